package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/matryer/is"
)

func TestCompletionScripts(t *testing.T) {
	markers := map[string][]string{
		"bash": {"_mega() {", "complete -F _mega mega", `'mega generate' | 'mega g') cmdpath='mega generate' ;;`},
		"zsh":  {"#compdef mega", "compdef _mega mega", `('mega generate'|'mega g') cmdpath='mega generate' ;;`},
		"fish": {"function __mega_path", "complete -c mega -f", `complete -c mega -n '__mega_at mega completion' -a 'zsh'`},
	}
	for _, shell := range completionShells {
		t.Run(shell, func(t *testing.T) {
			is := is.New(t)
			code, stdout, stderr := mega(t, "completion", shell)
			is.Equal(code, exitOK)
			is.Equal(stderr, "")
			for _, m := range markers[shell] {
				is.True(strings.Contains(stdout, m)) // the script has m
			}
			_, again, _ := mega(t, "completion", shell)
			is.Equal(again, stdout) // the same bytes every time
		})
	}
}

func TestCompletionUsageErrors(t *testing.T) {
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"completion", "powershell"}, `mega completion: unknown shell "powershell"; want bash, zsh or fish`},
		{[]string{"completion"}, "mega completion: want one SHELL: bash, zsh or fish"},
		{[]string{"completion", "bash", "zsh"}, "mega completion: want one SHELL: bash, zsh or fish"},
	}
	for _, tc := range cases {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			is := is.New(t)
			code, stdout, stderr := mega(t, tc.args...)
			is.Equal(code, exitUsage)
			is.Equal(stdout, "")
			is.Equal(stderr, tc.want+"\nRun 'mega completion --help' for usage.\n")
		})
	}
}

// completionCases are command lines typed up to the cursor (a trailing
// space: a new word) and the candidates every shell must offer there.
// "<files>" means the shell completes file names.
var completionCases = []struct {
	line string
	want []string
}{
	{"mega co", []string{"completion", "config"}},
	{"mega ge", []string{"generate"}},
	{"mega generate ", []string{"auth", "channel", "resource"}},
	{"mega g r", []string{"resource"}},
	{"mega new --mo", []string{"--module"}},
	{"mega generate resource posts --d", []string{"--dir", "--dry-run"}},
	{"mega config check --config ", []string{"<files>"}},
	{"mega config check --config x.yaml --", []string{"--config", "--help"}},
	{"mega dev --port ", nil}, // a value to type: nothing to offer
	{"mega ro", []string{"routes"}},
	{"mega routes --", []string{"--config", "--dir", "--help", "--json"}},
	{"mega completion ", []string{"bash", "fish", "zsh"}},
	{"mega help co", []string{"completion", "config"}},
}

// runShell runs script with shell and returns the candidates it printed
// for each case: one line per case, "case N: word word ...".
func runShell(t *testing.T, shell, script string) [][]string {
	t.Helper()
	if _, err := exec.LookPath(shell); err != nil {
		t.Skipf("%s is not installed", shell)
	}
	home, dir := t.TempDir(), t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "mega.yaml"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(shell, "-c", script)
	cmd.Dir = dir // only mega.yaml, for file completion
	cmd.Env = append(os.Environ(), "HOME="+home, "XDG_CONFIG_HOME="+home, "XDG_DATA_HOME="+home)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s: %v\n%s", shell, err, out)
	}
	got := make([][]string, len(completionCases))
	for line := range strings.SplitSeq(string(out), "\n") {
		var i int
		rest, ok := strings.CutPrefix(line, "case ")
		if !ok {
			continue
		}
		num, words, _ := strings.Cut(rest, ":")
		if _, err := fmt.Sscan(num, &i); err != nil || i >= len(got) {
			t.Fatalf("%s printed %q", shell, line)
		}
		got[i] = strings.Fields(words)
		slices.Sort(got[i])
	}
	return got
}

// checkCompletions compares what a shell offered with completionCases;
// files is what the shell shows for "<files>".
func checkCompletions(t *testing.T, got [][]string, files []string) {
	t.Helper()
	for i, tc := range completionCases {
		want := tc.want
		if slices.Equal(want, []string{"<files>"}) {
			want = files
		}
		if !slices.Equal(got[i], want) && !(len(got[i]) == 0 && len(want) == 0) {
			t.Errorf("%q: got %q, want %q", tc.line, got[i], want)
		}
	}
}

// writeScript writes mega's completion script for shell to a file.
func writeScript(t *testing.T, shell string) string {
	t.Helper()
	code, stdout, stderr := mega(t, "completion", shell)
	if code != exitOK {
		t.Fatalf("mega completion %s: %s", shell, stderr)
	}
	p := filepath.Join(t.TempDir(), "mega."+shell)
	if err := os.WriteFile(p, []byte(stdout), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// shellWords writes line as a shell array of words; a trailing space is
// an empty last word.
func shellWords(line string) string {
	var q []string
	for _, w := range strings.Split(line, " ") {
		q = append(q, sq(w))
	}
	return "(" + strings.Join(q, " ") + ")"
}

// TestCompletionBash sources the script in bash and calls its completion
// function as bash does on TAB.
func TestCompletionBash(t *testing.T) {
	var b strings.Builder
	fmt.Fprintf(&b, "set -e\nsource %s\n", sq(writeScript(t, "bash")))
	b.WriteString("compopt() { filecomp=1; }\n") // bash's compopt works only inside completion
	for i, tc := range completionCases {
		fmt.Fprintf(&b, "COMP_WORDS=%s; COMP_CWORD=$((${#COMP_WORDS[@]} - 1)); COMPREPLY=(); filecomp=; _mega\n", shellWords(tc.line))
		fmt.Fprintf(&b, "if [[ -n $filecomp ]]; then echo 'case %d: <files>'; else echo \"case %d: ${COMPREPLY[*]}\"; fi\n", i, i)
	}
	checkCompletions(t, runShell(t, "bash", b.String()), []string{"<files>"})
}

// TestCompletionZsh sources the script in zsh and calls its completion
// function with zsh's completion state set, the completion system's
// functions replaced by ones that print what they are given.
func TestCompletionZsh(t *testing.T) {
	var b strings.Builder
	b.WriteString(`compdef() { : }
_describe() { local -a entries; entries=("${(@P)4}"); local e; for e in $entries; do print -rn -- "${e%%:*} "; done }
_files() { print -rn -- '<files>' }
_message() { : }
`)
	fmt.Fprintf(&b, "source %s\n", sq(writeScript(t, "zsh")))
	for i, tc := range completionCases {
		fmt.Fprintf(&b, "words=%s; CURRENT=${#words}; PREFIX=${words[CURRENT]}\nprint -n 'case %d: '; _mega; print\n", shellWords(tc.line), i)
	}
	got := runShell(t, "zsh", b.String())
	// zsh filters the candidates by PREFIX itself; the stub printed them all.
	for i, tc := range completionCases {
		words := strings.Split(tc.line, " ")
		prefix := words[len(words)-1]
		got[i] = slices.DeleteFunc(got[i], func(w string) bool { return w != "<files>" && !strings.HasPrefix(w, prefix) })
	}
	checkCompletions(t, got, []string{"<files>"})
}

// TestCompletionFish loads the script in fish and asks fish for the
// completions of each line (complete -C), in a directory holding only
// mega.yaml.
func TestCompletionFish(t *testing.T) {
	var b strings.Builder
	fmt.Fprintf(&b, "source %s\n", fishQuote(writeScript(t, "fish")))
	for i, tc := range completionCases {
		fmt.Fprintf(&b, "echo 'case %d:' (complete -C%s | string replace -r '\\t.*' '')\n", i, fishQuote(tc.line))
	}
	checkCompletions(t, runShell(t, "fish", b.String()), []string{"mega.yaml"})
}
