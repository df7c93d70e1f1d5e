package configs

import (
	"fmt"
	"regexp"
	"strconv"

	"gopkg.in/yaml.v3"
)

// keyIndex maps the position of every value in a YAML document to its key
// path ("storage.segment_duration", "cameras[1].url"), so decoding errors,
// which yaml reports by line, can name the key the user has to fix.
type keyIndex map[[2]int]string

func keyPaths(root *yaml.Node) keyIndex {
	idx := keyIndex{}
	var walk func(n *yaml.Node, path string)
	walk = func(n *yaml.Node, path string) {
		switch n.Kind {
		case yaml.DocumentNode:
			for _, c := range n.Content {
				walk(c, path)
			}
		case yaml.MappingNode:
			for i := 0; i+1 < len(n.Content); i += 2 {
				k := n.Content[i].Value
				if path != "" {
					k = path + "." + k
				}
				idx[[2]int{n.Content[i+1].Line, n.Content[i+1].Column}] = k
				walk(n.Content[i+1], k)
			}
		case yaml.SequenceNode:
			for i, c := range n.Content {
				p := fmt.Sprintf("%s[%d]", path, i)
				idx[[2]int{c.Line, c.Column}] = p
				walk(c, p)
			}
		}
	}
	walk(root, "")
	return idx
}

var (
	posRe     = regexp.MustCompile(`^line (\d+) column (\d+): (.*)$`)
	unknownRe = regexp.MustCompile(`^line (\d+): field (\S+) not found in type configs\.\w+$`)
)

// explain turns "line L column C: msg" into (key, msg) when the position
// is known; other yaml messages pass through whole.
func (idx keyIndex) explain(msg string) (key, text string) {
	if m := posRe.FindStringSubmatch(msg); m != nil {
		l, _ := strconv.Atoi(m[1])
		c, _ := strconv.Atoi(m[2])
		if k, ok := idx[[2]int{l, c}]; ok {
			return k, m[3]
		}
		return "", fmt.Sprintf("line %d: %s", l, m[3])
	}
	if m := unknownRe.FindStringSubmatch(msg); m != nil {
		return "", fmt.Sprintf("unknown key %q on line %s (configs/vahti.example.yaml lists every key)", m[2], m[1])
	}
	return "", msg
}

// nodeError is how our own scalar types report bad values: a TypeError
// lets yaml go on decoding, so every problem is reported at once.
func nodeError(n *yaml.Node, msg string) error {
	return &yaml.TypeError{Errors: []string{fmt.Sprintf("line %d column %d: %s", n.Line, n.Column, msg)}}
}
