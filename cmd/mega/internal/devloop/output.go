package devloop

import (
	"bytes"
	"fmt"
	"io"
	"strings"
	"sync"
)

// ANSI colours of the instances' prefixes, in order, and of status lines.
var instanceColors = []string{"36", "35", "33", "32", "34"}

const (
	colorStatus = "1"  // bold
	colorError  = "31" // red
	colorOK     = "32" // green
)

// console writes whole lines from several sources to one writer: status
// lines prefixed [mega] and the instances' output prefixed [app:PORT].
type console struct {
	mu    sync.Mutex
	w     io.Writer
	color bool
}

func (c *console) paint(code, s string) string {
	if !c.color || code == "" {
		return s
	}
	return "\x1b[" + code + "m" + s + "\x1b[0m"
}

// printLine writes one line with a prefix.
func (c *console) printLine(prefix, code, text string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	fmt.Fprintf(c.w, "%s %s\n", c.paint(code, prefix), text)
}

// status writes a [mega] line.
func (c *console) status(format string, args ...any) {
	c.printLine("[mega]", colorStatus, fmt.Sprintf(format, args...))
}

// statusColor writes a [mega] line whose text is coloured too.
func (c *console) statusColor(code, format string, args ...any) {
	c.printLine("[mega]", colorStatus, c.paint(code, fmt.Sprintf(format, args...)))
}

// block writes text as it is, unprefixed, so file:line references stay
// clickable in terminals and editors.
func (c *console) block(text string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	text = strings.TrimRight(text, "\n")
	if text != "" {
		fmt.Fprintln(c.w, text)
	}
}

// prefixed returns a writer that prints each line written to it with
// prefix; partial lines wait for their newline (or Close).
func (c *console) prefixed(prefix, code string) *lineWriter {
	return &lineWriter{c: c, prefix: prefix, code: code}
}

type lineWriter struct {
	c      *console
	prefix string
	code   string
	mu     sync.Mutex
	buf    []byte
}

func (l *lineWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.buf = append(l.buf, p...)
	for {
		i := bytes.IndexByte(l.buf, '\n')
		if i < 0 {
			break
		}
		l.c.printLine(l.prefix, l.code, string(bytes.TrimRight(l.buf[:i], "\r")))
		l.buf = l.buf[i+1:]
	}
	if len(l.buf) > 64<<10 { // a very long line without newline: print what we have
		l.c.printLine(l.prefix, l.code, string(l.buf))
		l.buf = nil
	}
	return len(p), nil
}

// Close prints a final partial line.
func (l *lineWriter) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.buf) > 0 {
		l.c.printLine(l.prefix, l.code, string(l.buf))
		l.buf = nil
	}
	return nil
}
