package devmode

import (
	"bytes"
	"net/http"
	"strconv"
	"strings"
)

// htmlInjector buffers a text/html response and adds the dev script before
// its closing </body> tag (or at the end). Any other response passes
// through unchanged, flushes included.
type htmlInjector struct {
	w       http.ResponseWriter
	tag     []byte
	decided bool
	inject  bool
	status  int
	buf     bytes.Buffer
}

func (h *htmlInjector) Header() http.Header { return h.w.Header() }

func (h *htmlInjector) WriteHeader(code int) {
	if h.decided {
		return
	}
	if code >= 100 && code < 200 {
		h.w.WriteHeader(code)
		return
	}
	h.decided = true
	hd := h.w.Header()
	h.inject = code == http.StatusOK && hd.Get("Content-Encoding") == "" &&
		strings.HasPrefix(hd.Get("Content-Type"), "text/html")
	if !h.inject {
		h.w.WriteHeader(code)
		return
	}
	h.status = code
	hd.Del("Content-Length")
}

func (h *htmlInjector) Write(b []byte) (int, error) {
	if !h.decided {
		if h.w.Header().Get("Content-Type") == "" {
			h.w.Header().Set("Content-Type", http.DetectContentType(b))
		}
		h.WriteHeader(http.StatusOK)
	}
	if !h.inject {
		return h.w.Write(b)
	}
	return h.buf.Write(b)
}

// Flush flushes a response that is not being buffered.
func (h *htmlInjector) Flush() {
	if h.decided && !h.inject {
		_ = http.NewResponseController(h.w).Flush()
	}
}

// finish writes the buffered page with the script added.
func (h *htmlInjector) finish() {
	if !h.inject {
		return
	}
	page := h.buf.Bytes()
	at := bytes.LastIndex(bytes.ToLower(page), []byte("</body>"))
	if at < 0 {
		at = len(page)
	}
	out := make([]byte, 0, len(page)+len(h.tag))
	out = append(append(append(out, page[:at]...), h.tag...), page[at:]...)
	h.w.Header().Set("Content-Length", strconv.Itoa(len(out)))
	h.w.WriteHeader(h.status)
	_, _ = h.w.Write(out)
}
