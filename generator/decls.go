package generator

import (
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// decls returns the package name and top-level names a Go file declares.
func decls(name string, src []byte) (string, []string, error) {
	f, err := parser.ParseFile(token.NewFileSet(), name, src, parser.SkipObjectResolution)
	if err != nil {
		return "", nil, err
	}
	var out []string
	add := func(id *ast.Ident) {
		if id.Name != "_" && id.Name != "init" {
			out = append(out, id.Name)
		}
	}
	for _, d := range f.Decls {
		switch d := d.(type) {
		case *ast.FuncDecl:
			if d.Recv == nil {
				add(d.Name)
			}
		case *ast.GenDecl:
			for _, s := range d.Specs {
				switch s := s.(type) {
				case *ast.TypeSpec:
					add(s.Name)
				case *ast.ValueSpec:
					for _, n := range s.Names {
						add(n)
					}
				}
			}
		}
	}
	return f.Name.Name, out, nil
}

// checkClashes fails when a Go file the plan adds would declare a name
// that another Go file in its directory already declares, which would not
// compile. Files the plan replaces are not counted. root is the app's root.
func checkClashes(root string, files []file) error {
	replaced := map[string]bool{}
	var added []file
	for _, f := range files {
		if !strings.HasSuffix(f.path, ".go") {
			continue
		}
		switch f.policy {
		case mustCreate:
			replaced[f.path] = true
			added = append(added, f)
		case ifMissing:
			if _, err := os.Stat(filepath.Join(root, filepath.FromSlash(f.path))); err != nil {
				added = append(added, f)
			}
		}
	}
	// declared: dir → package → name → file
	declared := map[string]map[string]map[string]string{}
	scan := func(dir string) error {
		if declared[dir] != nil {
			return nil
		}
		declared[dir] = map[string]map[string]string{}
		entries, err := os.ReadDir(filepath.Join(root, filepath.FromSlash(dir)))
		if err != nil {
			return nil // a new directory: nothing to clash with
		}
		for _, e := range entries {
			p := dir + "/" + e.Name()
			if e.IsDir() || !strings.HasSuffix(e.Name(), ".go") || replaced[p] {
				continue
			}
			src, err := os.ReadFile(filepath.Join(root, filepath.FromSlash(p)))
			if err != nil {
				return err
			}
			pkg, names, err := decls(p, src)
			if err != nil {
				continue // the compiler will say what is wrong with it
			}
			if declared[dir][pkg] == nil {
				declared[dir][pkg] = map[string]string{}
			}
			for _, n := range names {
				declared[dir][pkg][n] = p
			}
		}
		return nil
	}
	for _, f := range added {
		dir := filepath.ToSlash(filepath.Dir(filepath.FromSlash(f.path)))
		if err := scan(dir); err != nil {
			return err
		}
		pkg, names, err := decls(f.path, f.data)
		if err != nil {
			return err
		}
		slices.Sort(names)
		for _, n := range names {
			if other, ok := declared[dir][pkg][n]; ok {
				return fmt.Errorf("%s would declare %s, which %s already declares; choose another name", f.path, n, other)
			}
		}
	}
	return nil
}
