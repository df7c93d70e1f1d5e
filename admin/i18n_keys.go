package admin

// The catalog entries of sealed footage's keys (keyring.go): what a keeper
// reads when a login opens no footage, when footage is locked, and what an
// account's creator reads about the grant. Merged into the catalog once.

func init() {
	for k, v := range keysFI {
		catalogFI[k] = v
	}
	for k, v := range keysEN {
		catalogEN[k] = v
	}
}

var keysFI = map[string]string{
	"users.setonetime":     "Aseta kertakäyttöinen salasana",
	"users.onetimeset":     "Käyttäjälle %s asetettiin kertakäyttöinen salasana; hänen istuntonsa päättyivät.",
	"users.onetimegranted": "Käyttäjälle %s asetettiin kertakäyttöinen salasana ja annoit pääsyn salattuihin tallenteisiin; se siirtyy hänen omaan salasanaansa seuraavalla kirjautumisella.",
	"users.onetimenogrant": "Käyttäjälle %s asetettiin kertakäyttöinen salasana ilman pääsyä salattuihin tallenteisiin: sen voi antaa vain kirjautunut rekisterinpitäjä, jolla on itsellään pääsy.",
	"users.onetimehelp":    "Henkilö käyttää sen kerran valitakseen oman salasanansa. Kun sen asettaa kirjautunut rekisterinpitäjä, jolla on pääsy tallenteisiin, se antaa myös pääsyn.",
	"error.selfonetime":    "Vaihda oma salasanasi tilisi sivulla.",
	"sealed.locked":        "Tallenteet on salattu: ne aukeavat vain, kun tallenteiden käsittelijä (rekisterinpitäjä), jolla on pääsy niihin, on kirjautuneena. Kirjaudu uudelleen.",
	"sealed.nogrant":       "Tunnuksellesi ei ole annettu pääsyä salattuihin tallenteisiin. Pääsyn antaa toinen rekisterinpitäjä kirjautuneena asettamalla sinulle kertakäyttöisen salasanan.",
	"sealed.unopened":      "Salattujen tallenteiden avain ei auennut salasanallasi (salasana on ehkä vaihdettu komentoriviltä). Pyydä toista rekisterinpitäjää antamaan pääsy uudelleen.",
	"users.granted":        "Käyttäjä %s luotu. Annoit hänelle pääsyn salattuihin tallenteisiin; se siirtyy hänen omaan salasanaansa ensimmäisellä kirjautumisella.",
	"users.nogrant":        "Käyttäjä %s luotu, mutta ilman pääsyä salattuihin tallenteisiin: sen voi antaa vain kirjautunut rekisterinpitäjä, jolla on itsellään pääsy (tai palautusavain komentoriviltä).",
}

var keysEN = map[string]string{
	"users.setonetime":     "Set a one-time password",
	"users.onetimeset":     "A one-time password was set for %s; their sessions ended.",
	"users.onetimegranted": "A one-time password was set for %s, with access to sealed footage (granted by you); it moves to their own password at their next login.",
	"users.onetimenogrant": "A one-time password was set for %s, without access to sealed footage: only a logged-in registry keeper who has access can grant it.",
	"users.onetimehelp":    "The person uses it once, to choose their own. Set by a logged-in registry keeper with footage access, it also grants that access.",
	"error.selfonetime":    "Change your own password on your account page.",
	"sealed.locked":        "Footage is sealed: it opens only while a registry keeper with access to it is logged in. Log in again.",
	"sealed.nogrant":       "Your account has not been granted access to sealed footage. Another registry keeper, logged in, grants it by setting a one-time password for you.",
	"sealed.unopened":      "The footage key did not open with your password (it may have been changed from the command line). Ask another registry keeper to grant access again.",
	"users.granted":        "User %s created. You granted them access to sealed footage; it moves to their own password at their first login.",
	"users.nogrant":        "User %s created, but without access to sealed footage: only a logged-in registry keeper who has access can grant it (or the recovery key, from the command line).",
}
