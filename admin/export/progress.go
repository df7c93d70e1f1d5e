package export

import "io"

// progressWriter counts the clip bytes written into a package and reports
// them to a Progress, at most every 1/200 of the total (a call per piece
// would be thousands per clip) and once at the end.
type progressWriter struct {
	fn          Progress
	done, total int64
	next        int64 // report when done reaches this
	w           io.Writer
}

// newProgressWriter counts towards the plans' clip sizes; nil fn: none.
func newProgressWriter(plans []*plan, fn Progress) *progressWriter {
	if fn == nil {
		return nil
	}
	var total int64
	for _, p := range plans {
		for _, c := range p.clips {
			total += c.size
		}
	}
	pw := &progressWriter{fn: fn, total: total}
	fn(0, total)
	return pw
}

// wrap returns w counted (w itself when there is nothing to report to).
func (pw *progressWriter) wrap(w io.Writer) io.Writer {
	if pw == nil {
		return w
	}
	pw.w = w
	return pw
}

func (pw *progressWriter) Write(b []byte) (int, error) {
	n, err := pw.w.Write(b)
	pw.done += int64(n)
	if pw.done >= pw.next || pw.done >= pw.total {
		pw.fn(min(pw.done, pw.total), pw.total)
		pw.next = pw.done + max(pw.total/200, 1)
	}
	return n, err
}
