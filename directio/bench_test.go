package directio

import (
	"os"
	"path/filepath"
	"testing"
)

// BenchmarkAppend writes 512 KiB pieces (a 4 Mbit/s camera's fragment)
// through a File, O_DIRECT and the page cache alone, with a Flush after
// each as the recorder does; 1 GiB per file, then a new one, so the page
// cache run pays for new cache pages as a recorder does:
//
//	go test -run '^$' -bench Append -benchtime 4096x ./directio
func BenchmarkAppend(b *testing.B) {
	for _, direct := range []bool{true, false} {
		name := map[bool]string{true: "direct", false: "pagecache"}[direct]
		b.Run(name, func(b *testing.B) {
			dir := b.TempDir()
			piece := make([]byte, 512<<10)
			for i := range piece {
				piece[i] = byte(i * 7)
			}
			var f *File
			files := 0
			open := func() {
				var err error
				if f, err = Create(filepath.Join(dir, "seg"), 0o600); err != nil {
					b.Fatal(err)
				}
				if !direct && f.direct != nil {
					f.direct.Close()
					f.direct = nil
				}
				files++
			}
			finish := func() {
				if err := f.Sync(); err != nil {
					b.Fatal(err)
				}
				f.Close()
				os.Remove(f.Name())
			}
			open()
			b.SetBytes(int64(len(piece)))
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if f.Size() >= 1<<30 {
					finish()
					open()
				}
				if _, err := f.Write(piece); err != nil {
					b.Fatal(err)
				}
				if err := f.Flush(); err != nil {
					b.Fatal(err)
				}
			}
			finish()
		})
	}
}
