package admin

// The catalog entries of background jobs on the request and Exports
// pages (long exports, jobs_api.go). Kept apart so the main catalog stays
// easy to merge; merged into it once, before any page is rendered.

func init() {
	for k, v := range jobsFI {
		catalogFI[k] = v
	}
	for k, v := range jobsEN {
		catalogEN[k] = v
	}
}

var jobsFI = map[string]string{
	"redact.previewbusy": "Toista esikatselua tehdään juuri; yritä hetken kuluttua uudelleen.",
	"jobs.title":         "Taustatyöt",
	"jobs.intro":         "Yli %s tallennetta sisältävä paketti tehdään taustalla; tämä sivu näyttää sen edistymisen.",
	"jobs.queued":        "Paketti tehdään taustalla (työ %d); edistyminen näkyy alla.",
	"jobs.cancel":        "Keskeytä",
	"jobs.cancelask":     "Keskeytetäänkö paketin teko?",
	"jobs.cancelled":     "Työ %d keskeytettiin.",
	"jobs.ended":         "Työ %d oli jo päättynyt.",
	"jobs.none":          "Työtä ei löydy.",
	"msg.waitkeys":       "Odottaa, että rekisterinpitäjä kirjautuu sisään ja salattujen tallenteiden avain aukeaa.",
}

var jobsEN = map[string]string{
	"redact.previewbusy": "Another preview is being made; try again in a moment.",
	"jobs.title":         "Background jobs",
	"jobs.intro":         "A package of more than %s of footage is made in the background; this page shows its progress.",
	"jobs.queued":        "The package is being made in the background (job %d); its progress is shown below.",
	"jobs.cancel":        "Cancel",
	"jobs.cancelask":     "Cancel making the package?",
	"jobs.cancelled":     "Job %d was cancelled.",
	"jobs.ended":         "Job %d had already ended.",
	"jobs.none":          "No such job.",
	"msg.waitkeys":       "Waiting for a registry keeper to log in to open the footage keys.",
}
