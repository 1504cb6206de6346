package generator

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// policy says what to do with a file that already exists.
type policy int

const (
	// mustCreate: a new file. Existing content that differs is a conflict
	// unless forced.
	mustCreate policy = iota
	// ifMissing: a support file. Existing content is kept as it is.
	ifMissing
	// rewrite: an existing file the generator edits (app.go).
	rewrite
)

// Action is what writing one file does.
type Action string

// The actions a plan reports, one per file.
const (
	Create  Action = "create"  // the file is new
	Update  Action = "update"  // the generator changed an existing file
	Replace Action = "replace" // an existing file is overwritten (--force)
	Same    Action = "same"    // the file already has this content
	Keep    Action = "keep"    // an existing support file is left as it is
)

// Change is one file of a plan.
type Change struct {
	// Path is slash-separated, relative to the plan's root.
	Path   string
	Action Action
	// Data is the content written for Create, Update and Replace.
	Data []byte
}

// Plan is every file one command creates or changes under Root. Making a
// plan reads the disk but writes nothing; Write does the writing.
type Plan struct {
	Root    string
	Changes []Change
}

// ConflictError lists existing files a plan would overwrite.
type ConflictError struct {
	Root  string
	Paths []string
}

// Error lists the files and says how to overwrite them.
func (e *ConflictError) Error() string {
	verb := "exist"
	if len(e.Paths) == 1 {
		verb = "exists"
	}
	return fmt.Sprintf("%s already %s in %s with other content; nothing was written (pass --force to overwrite)",
		strings.Join(e.Paths, ", "), verb, e.Root)
}

// makePlan compares files with what is on disk under root. Conflicts
// are an error unless force is set.
func makePlan(root string, files []file, force bool) (*Plan, error) {
	p := &Plan{Root: root}
	var conflicts []string
	for _, f := range files {
		old, err := os.ReadFile(filepath.Join(root, filepath.FromSlash(f.path)))
		exists := err == nil
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return nil, err
		}
		c := Change{Path: f.path, Data: f.data}
		switch {
		case !exists:
			c.Action = Create
		case bytes.Equal(old, f.data):
			c.Action = Same
		case f.policy == ifMissing:
			c.Action = Keep
		case f.policy == rewrite:
			c.Action = Update
		case force:
			c.Action = Replace
		default:
			conflicts = append(conflicts, f.path)
			continue
		}
		p.Changes = append(p.Changes, c)
	}
	if len(conflicts) > 0 {
		slices.Sort(conflicts)
		return nil, &ConflictError{Root: root, Paths: conflicts}
	}
	slices.SortFunc(p.Changes, func(a, b Change) int { return strings.Compare(a.Path, b.Path) })
	return p, nil
}

// Write writes the plan, printing one line per file to w as it goes
// ("  create  apps/main/rooms.go"). With dryRun it only prints.
func (p *Plan) Write(w io.Writer, dryRun bool) error {
	for _, c := range p.Changes {
		if !dryRun && (c.Action == Create || c.Action == Update || c.Action == Replace) {
			dst := filepath.Join(p.Root, filepath.FromSlash(c.Path))
			if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
				return err
			}
			if err := os.WriteFile(dst, c.Data, 0o644); err != nil {
				return err
			}
		}
		progress(w, string(c.Action), c.Path)
	}
	return nil
}

// Written returns the paths the plan creates or changes.
func (p *Plan) Written() []string {
	var out []string
	for _, c := range p.Changes {
		if c.Action == Create || c.Action == Update || c.Action == Replace {
			out = append(out, c.Path)
		}
	}
	return out
}

// File returns the planned content of path, or nil.
func (p *Plan) File(path string) []byte {
	for _, c := range p.Changes {
		if c.Path == path {
			return c.Data
		}
	}
	return nil
}

// progress prints one progress line: the verb right-aligned, then what.
func progress(w io.Writer, verb, what string) {
	fmt.Fprintf(w, "%8s  %s\n", verb, what)
}
