package config

import (
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/matryer/is"
	"go.yaml.in/yaml/v3"
)

// configDoc is the reference of mega.yaml, seen from this directory.
const configDoc = "../../docs/config.md"

// docRule is how docs/config.md's websocket table starts the rule of a
// limit: what its kind takes, with its bounds.
func (s limitSpec) docRule() string {
	switch s.kind {
	case kindSize:
		if s.max != "" {
			return "Size, more than 0 and at most `" + s.max + "`"
		}
		return "Size, more than 0"
	case kindDuration:
		return "Duration"
	case kindCount:
		return "Whole number, at least 1"
	case kindCap:
		return "Whole number, at least 1, or `-1` for unlimited"
	}
	return "List of origin host patterns"
}

// docDefault is the default column of a limit in docs/config.md.
func (s limitSpec) docDefault() string {
	if s.kind == kindOrigins && s.def == "" {
		return "`[]`"
	}
	return "`" + s.def + "`"
}

// TestDocTableMatchesLimits fails when the websocket table of
// docs/config.md and the declaration of Limits disagree: one row per
// field, in the order of the fields, with the field's key, its default,
// and a rule that starts with what the key takes.
func TestDocTableMatchesLimits(t *testing.T) {
	is := is.New(t)
	doc, err := os.ReadFile(configDoc)
	is.NoErr(err)
	rows := markdownTable(t, string(doc), "### `websocket`")

	for i, s := range limitSpecs {
		want := "| `" + s.key + "` | " + s.docDefault() + " | " + s.docRule() + ". ... |"
		if i >= len(rows) {
			t.Errorf("docs/config.md, websocket table: row %d is missing; want %s", i+1, want)
			continue
		}
		r := rows[i]
		rule, _ := strings.CutPrefix(r[2], s.docRule())
		if r[0] != "`"+s.key+"`" || r[1] != s.docDefault() || rule == r[2] || !strings.ContainsAny(rule[:min(1, len(rule))], ".,;") {
			t.Errorf("docs/config.md, websocket table, row %d:\n got: | %s |\nwant: %s", i+1, strings.Join(r, " | "), want)
		}
	}
	for _, r := range rows[min(len(limitSpecs), len(rows)):] {
		t.Errorf("docs/config.md, websocket table: row %s is not a field of config.Limits", r[0])
	}
}

// TestDocExampleSetsEveryLimit checks that the full example of
// docs/config.md is valid and that its websocket section shows every key.
func TestDocExampleSetsEveryLimit(t *testing.T) {
	is := is.New(t)
	doc, err := os.ReadFile(configDoc)
	is.NoErr(err)
	_, example, ok := strings.Cut(string(doc), "## Full example\n\n```yaml\n")
	is.True(ok) // docs/config.md has a full example
	example, _, _ = strings.Cut(example, "```")

	_, err = Parse([]byte(example), nil)
	is.NoErr(err) // the full example is a valid mega.yaml

	var file struct {
		WebSocket map[string]any `yaml:"websocket"`
	}
	is.NoErr(yaml.Unmarshal([]byte(example), &file))
	for _, s := range limitSpecs {
		if _, ok := file.WebSocket[s.key]; !ok {
			t.Errorf("docs/config.md: the full example's websocket section lacks %s", s.key)
		}
	}
}

// markdownTable returns the cells of the body rows of the first table
// after the line heading in doc, trimmed.
func markdownTable(t *testing.T, doc, heading string) [][]string {
	t.Helper()
	_, section, ok := strings.Cut(doc, "\n"+heading+"\n")
	if !ok {
		t.Fatalf("docs/config.md has no %q heading", heading)
	}
	var rows [][]string
	for line := range strings.Lines(section) {
		line = strings.TrimSpace(line)
		if strings.HasPrefix(line, "|") {
			cells := strings.Split(strings.Trim(line, "|"), " | ")
			for i := range cells {
				cells[i] = strings.TrimSpace(cells[i])
			}
			rows = append(rows, cells)
			continue
		}
		if len(rows) > 0 || strings.HasPrefix(line, "#") {
			break
		}
	}
	if len(rows) < 2 || !slices.Equal(rows[0], []string{"key", "default", "rule"}) {
		t.Fatalf("docs/config.md: the first table under %q must have the columns key, default, rule", heading)
	}
	return rows[2:] // without the header and the |---| line
}
