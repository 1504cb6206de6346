package main

import (
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/urfave/cli/v2"
)

// The shells mega completion writes scripts for.
var completionShells = []string{"bash", "zsh", "fish"}

func completionCommand() *cli.Command {
	return &cli.Command{
		Name:      "completion",
		Usage:     "print a shell completion script (bash, zsh or fish)",
		UsageText: "mega completion bash|zsh|fish",
		Description: "Prints a script that completes mega's commands, flags and arguments. Load it:\n\n" +
			"   bash   source <(mega completion bash)        # in ~/.bashrc, or save it as\n" +
			"          ~/.local/share/bash-completion/completions/mega\n" +
			"   zsh    source <(mega completion zsh)         # in ~/.zshrc after compinit, or save it\n" +
			"          as _mega in a directory of $fpath\n" +
			"   fish   mega completion fish | source         # or save it as\n" +
			"          ~/.config/fish/completions/mega.fish",
		Action: runCompletion,
	}
}

func runCompletion(c *cli.Context) error {
	if c.NArg() != 1 {
		return usagef(c, "want one SHELL: bash, zsh or fish")
	}
	shell := c.Args().First()
	root := completionTree(c.App)
	switch shell {
	case "bash":
		writeBashCompletion(c.App.Writer, root)
	case "zsh":
		writeZshCompletion(c.App.Writer, root)
	case "fish":
		writeFishCompletion(c.App.Writer, root)
	default:
		return usagef(c, "unknown shell %q; want bash, zsh or fish", shell)
	}
	return nil
}

// compNode is one command of the tree the scripts complete.
type compNode struct {
	path     string   // the command line that selects it, e.g. "mega generate"
	names    []string // its name and aliases
	usage    string
	children []*compNode
	flags    []compFlag
	args     []string // the words its arguments may be, e.g. the shells
}

// compFlag is one flag of a command.
type compFlag struct {
	names []string // with dashes: "--instances", "-n"
	usage string
	value bool // takes a value
	files bool // whose value is a file or directory
}

// completionTree returns the visible commands and flags of app. The
// scripts are generated from it, so they follow the commands as they are.
func completionTree(app *cli.App) *compNode {
	root := &compNode{path: app.Name, names: []string{app.Name}, flags: compFlags(app.VisibleFlags())}
	var add func(parent *compNode, cmds []*cli.Command)
	add = func(parent *compNode, cmds []*cli.Command) {
		for _, cmd := range cmds {
			if cmd.Hidden || (cmd.Name == "help" && parent != root) {
				continue
			}
			n := &compNode{
				path:  parent.path + " " + cmd.Name,
				names: cmd.Names(),
				usage: cmd.Usage,
				flags: compFlags(cmd.VisibleFlags()),
			}
			parent.children = append(parent.children, n)
			add(n, cmd.Subcommands)
		}
	}
	add(root, app.VisibleCommands())
	for _, n := range root.children {
		switch n.names[0] {
		case "completion":
			n.args = completionShells
		case "help":
			for _, c := range root.children {
				n.args = append(n.args, c.names...)
			}
		}
	}
	return root
}

// compFlags describes flags, adding --help/-h when they lack it.
func compFlags(flags []cli.Flag) []compFlag {
	var out []compFlag
	seen := map[string]bool{}
	for _, f := range append(slices.Clone(flags), cli.HelpFlag) {
		if seen[f.Names()[0]] {
			continue
		}
		seen[f.Names()[0]] = true
		cf := compFlag{}
		for _, n := range f.Names() {
			if len(n) == 1 {
				cf.names = append(cf.names, "-"+n)
			} else {
				cf.names = append(cf.names, "--"+n)
			}
		}
		if d, ok := f.(cli.DocGenerationFlag); ok {
			cf.value = d.TakesValue()
			placeholder, usage := splitUsage(d.GetUsage())
			cf.usage = usage
			cf.files = cf.value && (strings.Contains(placeholder, "FILE") || strings.Contains(placeholder, "DIR"))
		}
		out = append(out, cf)
	}
	return out
}

// splitUsage returns the `PLACEHOLDER` of a flag's usage text and the text
// without the backquotes.
func splitUsage(usage string) (placeholder, text string) {
	if _, rest, ok := strings.Cut(usage, "`"); ok {
		placeholder, _, _ = strings.Cut(rest, "`")
	}
	return placeholder, strings.ReplaceAll(usage, "`", "")
}

// walk calls f for n and every command under it, parents first.
func (n *compNode) walk(f func(*compNode)) {
	f(n)
	for _, c := range n.children {
		c.walk(f)
	}
}

// words returns the subcommand names and argument words of n.
func (n *compNode) words() []string {
	var w []string
	for _, c := range n.children {
		w = append(w, c.names...)
	}
	return append(w, n.args...)
}

// flagNames returns the names of n's flags for which keep is true.
func (n *compNode) flagNames(keep func(compFlag) bool) []string {
	var names []string
	for _, f := range n.flags {
		if keep(f) {
			names = append(names, f.names...)
		}
	}
	return names
}

func allFlags(compFlag) bool     { return true }
func fileFlags(f compFlag) bool  { return f.files }
func valueFlags(f compFlag) bool { return f.value && !f.files }

// sq single-quotes s for bash and zsh; a quote in s closes the quoting,
// is escaped with a backslash, and opens it again.
func sq(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

// fishQuote quotes s for fish: 'it\'s'.
func fishQuote(s string) string {
	return "'" + strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(s) + "'"
}

// writeTransitions writes the case arms that follow the command path word
// by word: "$cmdpath $word" -> the subcommand's path. arm formats one arm.
func writeTransitions(w io.Writer, root *compNode, arm func(pattern, path string) string) {
	root.walk(func(n *compNode) {
		for _, c := range n.children {
			var pats []string
			for _, name := range c.names {
				pats = append(pats, n.path+" "+name)
			}
			fmt.Fprint(w, arm(strings.Join(pats, "|"), c.path))
		}
	})
}

func writeBashCompletion(w io.Writer, root *compNode) {
	fmt.Fprintf(w, `# bash completion for %[1]s, written by "%[1]s completion bash".
# Load it in this shell:  source <(%[1]s completion bash)
# or in every shell:      %[1]s completion bash > ~/.local/share/bash-completion/completions/%[1]s

_%[1]s() {
    local cur=${COMP_WORDS[COMP_CWORD]} prev=${COMP_WORDS[COMP_CWORD-1]}
    local cmdpath=%[1]s w i
    for ((i = 1; i < COMP_CWORD; i++)); do
        w=${COMP_WORDS[i]}
        case "$cmdpath $w" in
`, root.path)
	writeTransitions(w, root, func(pattern, path string) string {
		quoted := sqAll(strings.Split(pattern, "|"))
		return fmt.Sprintf("        %s) cmdpath=%s ;;\n", strings.Join(quoted, " | "), sq(path))
	})
	fmt.Fprint(w, `        esac
    done
    local words='' flags='' files='' values=''
    case $cmdpath in
`)
	root.walk(func(n *compNode) {
		fmt.Fprintf(w, "    %s)\n        words=%s\n        flags=%s\n        files=%s\n        values=%s\n        ;;\n",
			sq(n.path), sq(strings.Join(n.words(), " ")), sq(strings.Join(n.flagNames(allFlags), " ")),
			sq(strings.Join(n.flagNames(fileFlags), " ")), sq(strings.Join(n.flagNames(valueFlags), " ")))
	})
	fmt.Fprintf(w, `    esac
    if [[ " $files " == *" $prev "* ]]; then
        compopt -o default 2>/dev/null # a file or directory
        COMPREPLY=()
        return
    fi
    if [[ " $values " == *" $prev "* ]]; then
        COMPREPLY=() # a value to type
        return
    fi
    if [[ $cur == -* ]]; then
        COMPREPLY=($(compgen -W "$flags" -- "$cur"))
    else
        COMPREPLY=($(compgen -W "$words" -- "$cur"))
    fi
}

complete -F _%[1]s %[1]s
`, root.path)
}

func writeZshCompletion(w io.Writer, root *compNode) {
	fmt.Fprintf(w, `#compdef %[1]s
# zsh completion for %[1]s, written by "%[1]s completion zsh".
# Load it in this shell (after compinit):  source <(%[1]s completion zsh)
# or in every shell:  %[1]s completion zsh > "${fpath[1]}/_%[1]s"

_%[1]s() {
    local cmdpath=%[1]s w i
    for ((i = 2; i < CURRENT; i++)); do
        w=${words[i]}
        case "$cmdpath $w" in
`, root.path)
	writeTransitions(w, root, func(pattern, path string) string {
		quoted := sqAll(strings.Split(pattern, "|"))
		return fmt.Sprintf("        (%s) cmdpath=%s ;;\n", strings.Join(quoted, "|"), sq(path))
	})
	fmt.Fprint(w, `        esac
    done
    local -a cmds flags
    local files='' values=''
    case $cmdpath in
`)
	// _describe entries are "word:description"; a colon in the word is escaped.
	entry := func(word, desc string) string {
		word = strings.ReplaceAll(word, ":", `\:`)
		if desc == "" {
			return sq(word)
		}
		return sq(word + ":" + desc)
	}
	root.walk(func(n *compNode) {
		var cmds, flags []string
		for _, c := range n.children {
			for _, name := range c.names {
				cmds = append(cmds, entry(name, c.usage))
			}
		}
		for _, a := range n.args {
			cmds = append(cmds, entry(a, ""))
		}
		for _, f := range n.flags {
			for _, name := range f.names {
				flags = append(flags, entry(name, f.usage))
			}
		}
		fmt.Fprintf(w, "    (%s)\n        cmds=(%s)\n        flags=(%s)\n        files=%s\n        values=%s\n        ;;\n",
			sq(n.path), strings.Join(cmds, " "), strings.Join(flags, " "),
			sq(strings.Join(n.flagNames(fileFlags), " ")), sq(strings.Join(n.flagNames(valueFlags), " ")))
	})
	fmt.Fprintf(w, `    esac
    local prev=${words[CURRENT-1]}
    if [[ " $files " == *" $prev "* ]]; then
        _files
    elif [[ " $values " == *" $prev "* ]]; then
        _message 'a value'
    elif [[ $PREFIX == -* ]]; then
        _describe -t flags 'flag' flags
    else
        _describe -t commands 'command' cmds
    fi
}

if [[ ${funcstack[1]} == _%[1]s ]]; then
    _%[1]s "$@" # autoloaded from $fpath
else
    compdef _%[1]s %[1]s
fi
`, root.path)
}

func writeFishCompletion(w io.Writer, root *compNode) {
	fmt.Fprintf(w, `# fish completion for %[1]s, written by "%[1]s completion fish".
# Load it in this shell:  %[1]s completion fish | source
# or in every shell:      %[1]s completion fish > ~/.config/fish/completions/%[1]s.fish

# __%[1]s_path prints the command the words before the cursor select.
function __%[1]s_path
    set -l cmdpath %[1]s
    set -l words (commandline -opc)
    set -e words[1]
    for w in $words
        switch "$cmdpath $w"
`, root.path)
	writeTransitions(w, root, func(pattern, path string) string {
		var quoted []string
		for p := range strings.SplitSeq(pattern, "|") {
			quoted = append(quoted, fishQuote(p))
		}
		return fmt.Sprintf("            case %s\n                set cmdpath %s\n", strings.Join(quoted, " "), fishQuote(path))
	})
	fmt.Fprintf(w, `        end
    end
    echo $cmdpath
end

# __%[1]s_at succeeds when the words before the cursor select the command $argv.
function __%[1]s_at
    test (__%[1]s_path) = "$argv"
end

complete -c %[1]s -f
`, root.path)
	root.walk(func(n *compNode) {
		cond := fishQuote("__" + root.path + "_at " + n.path)
		for _, c := range n.children {
			for _, name := range c.names {
				fmt.Fprintf(w, "complete -c %s -n %s -a %s -d %s\n", root.path, cond, fishQuote(name), fishQuote(c.usage))
			}
		}
		for _, a := range n.args {
			fmt.Fprintf(w, "complete -c %s -n %s -a %s\n", root.path, cond, fishQuote(a))
		}
		for _, f := range n.flags {
			var opts []string
			for _, name := range f.names {
				if long, ok := strings.CutPrefix(name, "--"); ok {
					opts = append(opts, "-l "+fishQuote(long))
				} else {
					opts = append(opts, "-s "+fishQuote(strings.TrimPrefix(name, "-")))
				}
			}
			switch {
			case f.files:
				opts = append(opts, "-r -F")
			case f.value:
				opts = append(opts, "-x")
			}
			fmt.Fprintf(w, "complete -c %s -n %s %s -d %s\n", root.path, cond, strings.Join(opts, " "), fishQuote(f.usage))
		}
	})
}

// sqAll single-quotes every word for the shell.
func sqAll(words []string) []string {
	out := make([]string, len(words))
	for i, w := range words {
		out[i] = sq(w)
	}
	return out
}
