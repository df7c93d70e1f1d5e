package admin

import (
	"regexp"
	"strings"
)

// Messages from retention, the exporter and the registry are English,
// for logs, the CLI and the API. A page shows them in the user's
// language: each known message is matched here and rendered from the
// catalog, its values (times, ids, names) carried over. The catalog test
// produces every message from the real code and fails on one that is not
// matched, so a new message cannot reach a Finnish page in English.

type msgPattern struct {
	re  *regexp.Regexp
	key string
}

func mp(re, key string) msgPattern { return msgPattern{regexp.MustCompile("^" + re + "$"), key} }

var messagePatterns = []msgPattern{
	// admin/export: refused export requests.
	mp(`a reason is required`, "msg.reason"),
	mp(`the exporting person \(actor\) is required`, "msg.actor"),
	mp(`no camera given`, "msg.nocamera"),
	mp(`from and to are required`, "msg.norange"),
	mp(`to \((\S+)\) must be after from \((\S+)\)`, "msg.toafterfrom"),
	mp(`range (\S+) is longer than (\S+); make several packages`, "msg.rangetoolong"),
	mp(`unknown camera "(.*)" \(configured: (.*)\)`, "msg.unknowncamera"),
	mp(`invalid camera id "(.*)"`, "msg.invalidcamera"),
	mp(`no footage of (.+) between (\S+) and (\S+)`, "msg.nofootage"),
	mp(`unusable segments: (.+)`, "msg.unusable"),
	// retention: holds and requests.
	mp(`at least one camera \(or all\) is required`, "msg.nocamera"),
	mp(`a reason is required to release`, "msg.releasereason"),
	mp(`already released (\S+) by (.*)`, "msg.released"),
	mp(`a reason is required to close`, "msg.closereason"),
	mp(`outcome must be delivered, viewed-on-site, refused or withdrawn, got "(.*)"`, "msg.outcome"),
	mp(`a ground is given only for a refusal`, "msg.groundonly"),
	mp(`ground must be one of (.*), got "(.*)"`, "msg.ground"),
	mp(`already closed \((.*)\)`, "msg.alreadyclosed"),
	mp(`handler "(.*)" is not an active registry keeper`, "msg.handler"),
	// registry: the register and the disclosure log.
	mp(`kind must be police or access, got "(.*)"`, "msg.kind"),
	mp(`a reference is required`, "msg.reference"),
	mp(`basis code must be one of (.*), got "(.*)"`, "msg.basiscode"),
	mp(`a basis is required`, "msg.basis"),
	mp(`received \((\S+)\) is in the future`, "msg.receivedfuture"),
	mp(`the deadline \((\S+)\) must be after received \((\S+)\)`, "msg.deadline"),
	mp(`the recipient is required`, "msg.recipient"),
	mp(`channel must be one of (.*), got "(.*)"`, "msg.channel"),
	mp(`the handover time \((\S+)\) is in the future`, "msg.atfuture"),
	mp(`a note or the basis is longer than 4000 characters`, "msg.notetoolong"),
	mp(`disclosure (\d+) \(to correct\) does not exist`, "msg.nocorrected"),
	mp(`disclosure (\d+) belongs to request (\d+), not (\d+)`, "msg.otherrequest"),
	mp(`a correction needs a note saying what was wrong`, "msg.correctionnote"),
	mp(`the package is required`, "msg.package"),
	mp(`package (\S+) was not made for request (\d+) \(export it from the request first\)`, "msg.foreignpackage"),
	mp(`package (\S+) has been deleted`, "msg.packagedeleted"),
	// admin/jobs: a queued job's status (jobs.WaitingForKeys).
	mp(`waiting for a keeper to log in to open the footage keys`, "msg.waitkeys"),
	mp(`([a-z ]+) is longer than (\d+) characters`, "msg.toolong"), // last: the specific ones above first
}

// prefixRe strips the context prefixes of the English messages ("bad
// export request: ", "request 3: delivery: ", "hold 7: ").
var prefixRe = regexp.MustCompile(`^(?:bad export request: |request(?: \d+)?: |delivery: |hold(?: \d+)?: )`)

// translateMessage renders an English message of retention, the exporter
// or the registry from the catalog; ok is false if any part is unknown.
func translateMessage(lang, msg string) (string, bool) {
	for {
		m := prefixRe.FindString(msg)
		if m == "" {
			break
		}
		msg = msg[len(m):]
	}
	if t, ok := translatePart(lang, strings.TrimSpace(msg)); ok {
		return t, true
	}
	var out []string
	for _, part := range strings.Split(msg, "; ") {
		t, ok := translatePart(lang, strings.TrimSpace(part))
		if !ok {
			return "", false
		}
		out = append(out, t)
	}
	return strings.Join(out, " "), len(out) > 0
}

func translatePart(lang, part string) (string, bool) {
	for _, p := range messagePatterns {
		m := p.re.FindStringSubmatch(part)
		if m == nil {
			continue
		}
		args := make([]any, 0, len(m)-1)
		for _, a := range m[1:] {
			args = append(args, a)
		}
		return trf(lang, p.key, args...), true
	}
	return "", false
}

// alarmView is one retention alarm on the dashboard: the catalog's text
// for its kind, and retention's own message as the technical detail.
type alarmView struct {
	Key    string
	Detail string
}

// alarmKeys maps retention's alarm kinds to catalog keys.
var alarmKeys = map[string]string{
	"clock-jump":       "alarm.clockjump",
	"clock-backwards":  "alarm.clockbackwards",
	"delete-fraction":  "alarm.deletefraction",
	"catalog-mismatch": "alarm.catalogmismatch",
	"disk-low":         "alarm.disklow",
	"disk-full-held":   "alarm.diskfullheld",
	"hold-review":      "alarm.holdreview",
	"error":            "alarm.error",
}

func alarmViews(kinds, msgs []string) []alarmView {
	out := make([]alarmView, 0, len(msgs))
	for i, m := range msgs {
		key := "alarm.other"
		if i < len(kinds) {
			if k, ok := alarmKeys[kinds[i]]; ok {
				key = k
			}
		}
		out = append(out, alarmView{Key: key, Detail: m})
	}
	return out
}

// redactTexts are the redaction page's texts (redact.html and, through
// the page's data-m-* attributes, redact.js), Finnish and English; they
// join the catalogs when the package loads.
var redactTexts = map[string][2]string{
	"redact.title":            {"Peitä ja vie", "Redact and export"},
	"redact.link":             {"Peitä ja vie", "Redact and export"},
	"redact.linkintro":        {"Pääsypyynnössä muut kuvassa olevat ihmiset peitetään ennen luovutusta: piirrä alueet, esikatsele ja tee peitetty paketti.", "For a right-of-access request, everyone else in the picture is blurred before the handover: draw the areas, preview, and make the redacted package."},
	"redact.viewreason":       {"Peittäminen pyyntöön #%d (%s)", "Redaction for request #%d (%s)"},
	"redact.howto":            {"Näin teet sen", "How to do it"},
	"redact.step1":            {"Valitse kamera ja se, mitä peitetään: »Näytä vain tämä alue« (suositus) sumentaa kaiken muun kuin piirtämäsi alueet; »Peitä nämä alueet« sumentaa vain piirtämäsi alueet.", "Pick a camera and what is blurred: “Keep only this area” (recommended) blurs everything except the areas you draw; “Blur these areas” blurs only the areas you draw."},
	"redact.step2":            {"Etsi videosta kohta, jossa pyytäjä näkyy. Piirrä hiirellä tai sormella suorakulmio hänen ympärilleen.", "Find a moment where the requester is in the picture. Draw a rectangle around them with the mouse or a finger."},
	"redact.step3":            {"Kun hän liikkuu, pysäytä video uuteen kohtaan ja vedä suorakulmio hänen päälleen tai paina »Lisää avainkohta tähän hetkeen«. Avainkohtien välillä suorakulmio liikkuu tasaisesti. Kulmasta vetämällä muutat kokoa.", "When they move, stop the video at a new moment and drag the rectangle onto them, or press “Add a keyframe at this moment”. Between keyframes the rectangle moves smoothly. Drag a corner to resize it."},
	"redact.step4":            {"Toista koko jakso: tummennettu osa sumennetaan. Tarkista esikatselusta, ettei ketään muuta voi tunnistaa.", "Play the whole stretch: the darkened part is what gets blurred. Check in the preview that no one else can be recognised."},
	"redact.step5":            {"Tee peitetty paketti. Valmis paketti näkyy pyynnön sivulla, jossa kirjaat luovutuksen.", "Make the redacted package. The finished package appears on the request's page, where you record the handover."},
	"redact.keys":             {"Näppäimet: Delete poistaa valitun alueen, Ctrl+Z kumoaa viimeisimmän muutoksen, Esc poistaa valinnan. Kun kuva on valittuna (Tab): nuolinäppäimet siirtävät valittua aluetta (Shift: enemmän, Alt: muuttaa kokoa), Enter lisää avainkohdan ja välilyönti toistaa tai pysäyttää. Ilman hiirtä: »Uusi alue keskelle« ja nuolinäppäimet.", "Keys: Delete removes the selected area, Ctrl+Z undoes the last change, Esc clears the selection. With the picture focused (Tab): the arrow keys move the selected area (Shift: further, Alt: resize it), Enter adds a keyframe and Space plays or pauses. Without a mouse: “New area in the middle” and the arrow keys."},
	"redact.closed":           {"Tälle pyynnölle ei voi enää tehdä pakettia: se on suljettu tai sen luovutus on jo kirjattu. Voit silti piirtää alueet ja ladata ne tiedostona.", "No package can be made for this request any more: it is closed or its delivery has been recorded. You can still draw the areas and download them as a file."},
	"redact.nocameras":        {"Yhtäkään pyynnön kameraa ei ole enää asetuksissa.", "None of the request's cameras is configured any more."},
	"redact.camera":           {"Kamera", "Camera"},
	"redact.mode":             {"Mitä sumennetaan", "What is blurred"},
	"redact.mode.keep":        {"Näytä vain tämä alue (suositus)", "Keep only this area (recommended)"},
	"redact.mode.blur":        {"Peitä nämä alueet", "Blur these areas"},
	"redact.mode.keephint":    {"Kaikki piirrettyjen alueiden ulkopuolella sumennetaan. Turvallisin valinta: ohikulkija ei jää näkyviin, vaikka hän jäisi sinulta huomaamatta.", "Everything outside the areas you draw is blurred. The safest choice: a passer-by stays hidden even if you miss them."},
	"redact.mode.blurhint":    {"Vain piirretyt alueet sumennetaan ja kaikki muu jää näkyviin. Piirrä jokaisen muun ihmisen päälle oma alue koko jakson ajaksi.", "Only the areas you draw are blurred and everything else stays visible. Draw an area over every other person for the whole stretch."},
	"redact.windowed":         {"pitkä aikaväli näytetään kuuden tunnin jaksoina", "a long range is shown in six-hour stretches"},
	"redact.prevwindow":       {"Edellinen jakso", "Previous stretch"},
	"redact.nextwindow":       {"Seuraava jakso", "Next stretch"},
	"redact.canvaslabel":      {"Piirtoalue videon päällä: piirrä suorakulmio vetämällä", "Drawing area over the video: drag to draw a rectangle"},
	"redact.play":             {"Toista tai pysäytä", "Play or pause"},
	"redact.back1":            {"Sekunti taaksepäin", "One second back"},
	"redact.fwd1":             {"Sekunti eteenpäin", "One second forward"},
	"redact.seek":             {"Kohta videossa", "Position in the video"},
	"redact.nextclip":         {"Tallenne jatkuu erillisenä pätkänä (kuvan asetukset vaihtuivat tai osa puuttuu): siirry seuraavaan pätkään", "The footage goes on in a separate part (the picture settings changed or a piece is missing): go to the next part"},
	"redact.firstclip":        {"Jakson alkuun", "Back to the start of the stretch"},
	"redact.newarea":          {"Uusi alue keskelle", "New area in the middle"},
	"redact.addkeyframe":      {"Lisää avainkohta tähän hetkeen", "Add a keyframe at this moment"},
	"redact.undo":             {"Kumoa viimeisin muutos", "Undo the last change"},
	"redact.delete":           {"Poista valittu alue", "Delete the selected area"},
	"redact.areas":            {"Alueet tällä kameralla", "Areas on this camera"},
	"redact.noareas":          {"Ei vielä alueita. Piirrä suorakulmio videon päälle.", "No areas yet. Draw a rectangle over the video."},
	"redact.json":             {"Lataa alueet tiedostona (regions.json)", "Download regions JSON (regions.json)"},
	"redact.jsonhint":         {"saman paketin voi tehdä komentorivillä:", "the same package can be made on the command line:"},
	"redact.previewtitle":     {"Esikatselu", "Preview"},
	"redact.previewintro":     {"Esikatselu näyttää muutaman ruudun alkuperäisenä ja sumennettuna rinnakkain ennen kuin koko paketti tehdään.", "The preview shows a few frames, original and redacted side by side, before the whole package is made."},
	"redact.preview":          {"Esikatsele avainkohdista (enintään 4)", "Preview at the keyframes (up to 4)"},
	"redact.previewnow":       {"Esikatsele tämä hetki", "Preview this moment"},
	"redact.maketitle":        {"Peitetty paketti", "The redacted package"},
	"redact.keepaudio":        {"Säilytä ääni", "Keep the audio"},
	"redact.audiowarning":     {"Ääni jätetään oletuksena pois: siinä voi kuulua muiden asukkaiden ja lasten puhetta, jota ei voi peittää. Säilytä ääni vain, jos olet kuunnellut sen eikä siinä kuulu ketään muuta.", "Audio is left out by default: it may carry the voices of other residents and children, which cannot be blurred. Keep it only if you have listened to it and no one else can be heard."},
	"redact.make":             {"Tee peitetty paketti", "Make the redacted package"},
	"redact.cancel":           {"Keskeytä", "Cancel"},
	"redact.jobs":             {"Tämän pyynnön paketointityöt", "Package jobs of this request"},
	"redact.jobkind":          {"Työ", "Job"},
	"redact.jobstate":         {"Tila", "State"},
	"redact.progress":         {"Edistyminen", "Progress"},
	"redact.nojobs":           {"Ei töitä.", "No jobs."},
	"redact.original":         {"Alkuperäinen", "Original"},
	"redact.redacted":         {"Peitetty", "Redacted"},
	"redact.state.queued":     {"jonossa", "queued"},
	"redact.state.running":    {"käynnissä", "running"},
	"redact.state.done":       {"valmis", "done"},
	"redact.state.failed":     {"epäonnistui", "failed"},
	"redact.state.cancelled":  {"keskeytetty", "cancelled"},
	"redact.js.unavailable":   {"Peittäminen ei ole käytettävissä: %s", "Redaction is not available: %s"},
	"redact.js.ffmpeg":        {"Laitteen ylläpitäjä asentaa Debianin ffmpeg-paketin (apt install ffmpeg), minkä jälkeen lataa tämä sivu uudelleen. Kaikki muu Vahtissa toimii ilman sitä, ja voit silti piirtää alueet ja ladata ne tiedostona.", "The box's administrator installs Debian's ffmpeg package (apt install ffmpeg); then reload this page. Everything else in Vahti works without it, and you can still draw the areas and download them as a file."},
	"redact.js.noareas":       {"Piirrä ensin vähintään yksi alue.", "Draw at least one area first."},
	"redact.js.previewing":    {"Tehdään esikatselua…", "Making the preview…"},
	"redact.js.previewat":     {"Esikatselu hetkistä %s.", "Preview at %s."},
	"redact.js.previewfailed": {"Esikatselu epäonnistui: %s", "The preview failed: %s"},
	"redact.js.makefailed":    {"Paketin tekoa ei voitu aloittaa: %s", "The package could not be started: %s"},
	"redact.js.badregions":    {"Alueet eivät kelpaa: %s", "The areas are not valid: %s"},
	"redact.js.network":       {"Yhteys palvelimeen katkesi. Yritä hetken kuluttua uudelleen.", "The connection to the server was lost. Try again in a moment."},
	"redact.js.started":       {"Paketin teko alkaa…", "Starting the package…"},
	"redact.js.done":          {"Valmis: paketti %s.", "Done: package %s."},
	"redact.js.openpackage":   {"Avaa pyynnön sivu ja kirjaa luovutus", "Open the request's page to record the handover"},
	"redact.js.cancelask":     {"Keskeytetäänkö paketin teko?", "Cancel making the package?"},
	"redact.js.cancelfailed":  {"Keskeytys epäonnistui: %s", "Cancelling failed: %s"},
	"redact.js.jobfailed":     {"Paketin teko epäonnistui: %s", "Making the package failed: %s"},
	"redact.js.keyframe":      {"Alue %d: avainkohta %s.", "Area %d: keyframe at %s."},
	"redact.js.undone":        {"Viimeisin muutos kumottu.", "Last change undone."},
	"redact.js.nothingundo":   {"Ei kumottavaa.", "Nothing to undo."},
	"redact.js.selectfirst":   {"Valitse ensin alue napsauttamalla sitä.", "First select an area by clicking it."},
	"redact.js.area":          {"Alue %d", "Area %d"},
	"redact.js.deleted":       {"Alue %d poistettu.", "Area %d deleted."},
	"redact.js.fixed":         {"(paikallaan koko jakson)", "(fixed for the whole range)"},
	"redact.js.redactedjob":   {"peitetty paketti", "redacted package"},
	"redact.js.plainjob":      {"paketti", "package"},
	"redact.js.maxareas":      {"Yhdellä kameralla voi olla enintään %d aluetta.", "One camera can have at most %d areas."},
	"redact.js.maxkeyframes":  {"Yhdellä alueella voi olla enintään %d avainkohtaa.", "One area can have at most %d keyframes."},
	"redact.unlisted":         {"Kamera, jolle et piirrä alueita: jos jollakin kameralla on valittu »Näytä vain tämä alue«, sen kuva sumennetaan paketissa kokonaan; muuten kamera jätetään paketista pois.", "A camera you draw no areas on: if any camera is set to “Keep only this area”, its whole picture is blurred in the package; otherwise the camera is left out of the package."},
}

func init() {
	for k, v := range redactTexts {
		catalogFI[k], catalogEN[k] = v[0], v[1]
	}
}
