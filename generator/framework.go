package generator

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
)

// FrameworkModule is the module path of the mega framework.
const FrameworkModule = "github.com/megaframework/mega"

// ErrNoFramework is returned by FindFramework when no checkout was found.
var ErrNoFramework = errors.New("cannot find the mega framework checkout")

// FindFramework returns the root of the mega checkout a new app's go.mod
// replaces the framework with: the directory of a go.mod whose module is
// FrameworkModule.
//
// dir, when not empty, is that directory (--framework). Otherwise it
// looks, in order, upwards from:
//
//  1. this package's source file as compiled into the binary, so a mega
//     built from a checkout (go build, go install, go run, go tool) finds
//     that checkout wherever the binary and the new app are; this does not
//     work for binaries built with -trimpath;
//  2. the working directory, for a mega run inside a checkout;
//  3. the executable's directory, for a binary kept inside a checkout.
func FindFramework(dir string) (string, error) {
	if dir != "" {
		abs, err := filepath.Abs(dir)
		if err != nil {
			return "", fmt.Errorf("--framework %s: %w", dir, err)
		}
		mod, err := modulePath(filepath.Join(abs, "go.mod"))
		switch {
		case err != nil:
			return "", fmt.Errorf("--framework %s: %w", dir, err)
		case mod != FrameworkModule:
			return "", fmt.Errorf("--framework %s: its go.mod is module %q, not %s", dir, mod, FrameworkModule)
		}
		return abs, nil
	}
	var tried []string
	for _, start := range searchStarts() {
		if root, ok := findModuleUp(start, FrameworkModule); ok {
			return root, nil
		}
		tried = append(tried, start)
	}
	return "", fmt.Errorf("%w (looked upwards from %s); pass --framework DIR, the directory of mega's go.mod",
		ErrNoFramework, strings.Join(tried, ", "))
}

// searchStarts returns the directories FindFramework searches from.
func searchStarts() []string {
	var starts []string
	if _, file, _, ok := runtime.Caller(0); ok && filepath.IsAbs(file) {
		starts = append(starts, filepath.Dir(file))
	}
	if wd, err := os.Getwd(); err == nil {
		starts = append(starts, wd)
	}
	if exe, err := os.Executable(); err == nil {
		if real, err := filepath.EvalSymlinks(exe); err == nil {
			exe = real
		}
		starts = append(starts, filepath.Dir(exe))
	}
	return starts
}

// findModuleUp walks up from dir to the first go.mod declaring module.
// Other modules on the way (an app inside a checkout) are passed by.
func findModuleUp(dir, module string) (string, bool) {
	for {
		if mod, err := modulePath(filepath.Join(dir, "go.mod")); err == nil && mod == module {
			return dir, true
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", false
		}
		dir = parent
	}
}

// modulePath returns the module path a go.mod file declares.
func modulePath(gomod string) (string, error) {
	v, err := goModDirective(gomod, "module")
	if err != nil {
		return "", err
	}
	if v == "" {
		return "", fmt.Errorf("%s has no module line", gomod)
	}
	return v, nil
}

// goModDirective returns the value of a one-line directive (module, go)
// of a go.mod file, or "" when it is absent.
func goModDirective(gomod, name string) (string, error) {
	data, err := os.ReadFile(gomod)
	if err != nil {
		return "", err
	}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		line := sc.Text()
		if i := strings.Index(line, "//"); i >= 0 {
			line = line[:i]
		}
		f := strings.Fields(line)
		if len(f) == 2 && f[0] == name {
			return strings.Trim(f[1], `"`+"`"), nil
		}
	}
	return "", sc.Err()
}

// replacePath returns how the go.mod in appDir names the framework at
// root: a relative path when there is one, else the absolute path.
func replacePath(appDir, root string) string {
	rel, err := filepath.Rel(appDir, root)
	if err != nil {
		return filepath.ToSlash(root)
	}
	rel = filepath.ToSlash(rel)
	if rel != ".." && !strings.HasPrefix(rel, "../") {
		rel = "./" + rel
	}
	return rel
}
