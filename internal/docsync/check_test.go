package docsync

import (
	"strings"
	"testing"

	"github.com/matryer/is"
)

// exampleFile is a target for the checker's own tests.
const exampleFile = `package x_test

import (
	"fmt"
	mega "example.com/mega"
)

// Greeter greets.
type Greeter struct{}

// Greet says hi.
func (Greeter) Greet(name string) string {
	return "hi " + name
}

func unused() {}

func Example() {
	g := Greeter{}
	fmt.Println(g.Greet("ann"), mega.Version)
	// Output: hi ann 1
}

func ExampleGreeter_notRun() {
	fmt.Println(Greeter{}.Greet("bob"))
}
`

// TestCheckCatchesDrift shows the checker failing for every way a snippet
// and its code can part, and passing for what only looks different.
func TestCheckCatchesDrift(t *testing.T) {
	for _, c := range []struct {
		name, code string
		target     string // file name; default x_test.go
		fails      string // part of the error; "" means it passes
	}{
		{name: "verbatim declaration", code: "// Greeter greets.\ntype Greeter struct{}"},
		{name: "statements without their indentation", code: "g := Greeter{}\nfmt.Println(g.Greet(\"ann\"), mega.Version)"},
		{name: "a declaration, a blank line, the example using it",
			code: "type Greeter struct{}\n\n// Greet says hi.\nfunc (Greeter) Greet(name string) string {\n\treturn \"hi \" + name\n}\n\ng := Greeter{}"},
		{name: "a whole file whose imports the target has",
			code: "package app\n\nimport (\n\t\"fmt\"\n\n\tmega \"example.com/mega\"\n)\n\ntype Greeter struct{}"},

		{name: "an edited line", code: "g := Greeter{}\nfmt.Println(g.Greet(\"bob\"), mega.Version)",
			fails: `DOC.md:2: snippet line 2 is not in x_test.go (after the snippet's earlier lines): "fmt.Println(g.Greet(\"bob\"), mega.Version)"`},
		{name: "a line the code does not have", code: "type Greeter struct{}\ntype Other struct{}", fails: "snippet line 2 is not in"},
		{name: "blocks out of order", code: "g := Greeter{}\n\ntype Greeter struct{}", fails: "snippet line 3 is not in"},
		{name: "an import the target lacks", code: "package app\n\nimport \"os\"\n\ntype Greeter struct{}", fails: `the snippet imports "os", x_test.go does not`},
		{name: "an import under another name", code: "package app\n\nimport m \"example.com/mega\"\n\ntype Greeter struct{}", fails: `imports m "example.com/mega"`},
		{name: "only in an example that does not run", code: `fmt.Println(Greeter{}.Greet("bob"))`, fails: `ExampleGreeter_notRun has no "// Output:" comment`},
		{name: "in a function no example uses", code: "func unused() {}", fails: "no Example with output or Test in the file uses unused"},
		{name: "not gofmt-clean", code: "type Greeter  struct{}", fails: "not gofmt-clean"},
		{name: "a target that is not a test", code: "type Greeter struct{}", target: "x.go", fails: "x.go is not a _test.go file"},
	} {
		t.Run(c.name, func(t *testing.T) {
			is := is.New(t)
			target := c.target
			if target == "" {
				target = "x_test.go"
			}
			err := check(snippet{doc: "DOC.md", line: 1, code: c.code, target: target}, target, []byte(exampleFile))
			if c.fails == "" {
				is.NoErr(err)
				return
			}
			is.True(err != nil) // the checker must refuse this snippet
			is.True(strings.Contains(err.Error(), c.fails))
		})
	}
}

func TestMarkdownSnippets(t *testing.T) {
	is := is.New(t)
	doc := strings.Join([]string{
		"# Title",                               // 1
		"",                                      // 2
		"<!-- snippet: framework/a_test.go -->", // 3
		"```go",                                 // 4
		"x := 1",                                // 5
		"```",                                   // 6
		"",                                      // 7
		"1. In a list:",                         // 8
		"",                                      // 9
		"   <!-- snippet: framework/b_test.go -->", // 10
		"   ```go",      // 11
		"   func f() {", // 12
		"   \treturn",   // 13
		"   }",          // 14
		"   ```",        // 15
		"",              // 16
		"```sh",         // 17
		"go test ./...", // 18
		"```",           // 19
	}, "\n")
	got, err := markdownSnippets("DOC.md", doc)
	is.NoErr(err)
	is.Equal(got, []snippet{
		{doc: "DOC.md", line: 5, code: "x := 1", target: "framework/a_test.go"},
		{doc: "DOC.md", line: 12, code: "func f() {\n\treturn\n}", target: "framework/b_test.go"},
	})
}

func TestMarkdownMarkersAreRequiredAndCannotGoStale(t *testing.T) {
	for _, c := range []struct{ name, doc, fails string }{
		{"a Go fence without a marker", "text\n```go\nx := 1\n```\n", "DOC.md:2: a Go snippet without a <!-- snippet: FILE --> marker"},
		{"a marker above prose", "<!-- snippet: a_test.go -->\ntext\n", "DOC.md:1: the snippet marker is not followed by a ```go fence"},
		{"a marker above a shell fence", "<!-- snippet: a_test.go -->\n```sh\nls\n```\n", `the snippet marker is above a "sh" fence`},
		{"a marker at the end", "text\n<!-- snippet: a_test.go -->\n", "DOC.md:2: the snippet marker is not followed"},
	} {
		t.Run(c.name, func(t *testing.T) {
			is := is.New(t)
			_, err := markdownSnippets("DOC.md", c.doc)
			is.True(err != nil) // the document must be refused
			is.True(strings.Contains(err.Error(), c.fails))
		})
	}
}

func TestGoDocSnippets(t *testing.T) {
	is := is.New(t)
	src := "// Package p does things.\n//\n//\tx := p.New()\n//\tx.Run()\n//\n// More text.\n//\n//\ttype T struct{}\npackage p\n"
	got, err := goDocSnippets("p/doc.go", []byte(src), "p/example_test.go")
	is.NoErr(err)
	is.Equal(got, []snippet{
		{doc: "p/doc.go", line: 3, code: "x := p.New()\nx.Run()", target: "p/example_test.go"},
		{doc: "p/doc.go", line: 8, code: "type T struct{}", target: "p/example_test.go"},
	})
}
