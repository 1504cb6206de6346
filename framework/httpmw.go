package mega

import (
	"net"
	"net/http"
	"net/netip"
	"strings"
	"time"

	"github.com/go-chi/chi/v5/middleware"
	"github.com/rs/zerolog"
)

// The process-wide HTTP middleware the boot stage puts in front of the
// apps: the client address behind trusted proxies, a request id, and one
// access log line per request (a WebSocket upgrade is one request; its
// frames are not logged).

// realIP sets r.RemoteAddr to the client's address taken from Forwarded or
// X-Forwarded-For, but only when the peer itself is inside one of trusted.
// A header from any other peer is ignored, so it cannot be spoofed: per-IP
// caps, rate limits and logs use the address this leaves in RemoteAddr.
func realIP(trusted []netip.Prefix) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		if len(trusted) == 0 {
			return next
		}
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if ip, ok := forwardedClient(r, trusted); ok {
				r.RemoteAddr = net.JoinHostPort(ip.String(), "0")
			}
			next.ServeHTTP(w, r)
		})
	}
}

// forwardedClient returns the client address a trusted peer forwarded:
// walking the hops from the nearest (rightmost) back, the first address that
// is not itself a trusted proxy. It reports false when the peer is not
// trusted or forwarded nothing usable.
func forwardedClient(r *http.Request, trusted []netip.Prefix) (netip.Addr, bool) {
	peer, ok := parseAddr(hostOf(r.RemoteAddr))
	if !ok || !inAny(peer, trusted) {
		return netip.Addr{}, false
	}
	hops := forwardedFor(r.Header.Values("Forwarded"))
	if len(hops) == 0 {
		for _, v := range r.Header.Values("X-Forwarded-For") {
			for _, h := range strings.Split(v, ",") {
				hops = append(hops, strings.TrimSpace(h))
			}
		}
	}
	var client netip.Addr
	for i := len(hops) - 1; i >= 0; i-- {
		a, ok := parseAddr(hops[i])
		if !ok {
			break // garbage: trust nothing further back
		}
		client = a
		if !inAny(a, trusted) {
			break
		}
	}
	return client, client.IsValid()
}

// forwardedFor returns the for= values of RFC 7239 Forwarded headers, in order.
func forwardedFor(values []string) []string {
	var out []string
	for _, v := range values {
		for _, elem := range strings.Split(v, ",") {
			for _, pair := range strings.Split(elem, ";") {
				k, val, ok := strings.Cut(strings.TrimSpace(pair), "=")
				if ok && strings.EqualFold(k, "for") {
					out = append(out, strings.Trim(val, `"`))
				}
			}
		}
	}
	return out
}

// parseAddr parses an address as it appears in a header or RemoteAddr:
// "1.2.3.4", "1.2.3.4:5678", "[2001:db8::1]:443" or "2001:db8::1".
func parseAddr(s string) (netip.Addr, bool) {
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return ap.Addr().Unmap(), true
	}
	a, err := netip.ParseAddr(strings.TrimSuffix(strings.TrimPrefix(s, "["), "]"))
	if err != nil {
		return netip.Addr{}, false
	}
	return a.Unmap(), true
}

func inAny(a netip.Addr, prefixes []netip.Prefix) bool {
	for _, p := range prefixes {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// hostOf is the host part of an address, or the address when it has no port.
func hostOf(addr string) string {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return addr
	}
	return host
}

// quiet reports whether path is polled by load balancers or scrapers
// (health, readiness, metrics): those requests are logged at debug.
func quiet(path, metricsPath string) bool {
	return path == metricsPath || strings.HasSuffix(path, "/healthz") || strings.HasSuffix(path, "/readyz")
}

// accessLog logs one line per request after it is served: method, path,
// status, bytes, duration (with its unit), client address and request id.
// Probes and scrapes (see quiet) are logged at debug.
func accessLog(log zerolog.Logger, metricsPath string) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			start := time.Now()
			ww := middleware.NewWrapResponseWriter(w, r.ProtoMajor)
			next.ServeHTTP(ww, r)
			status := ww.Status()
			if status == 0 {
				status = http.StatusOK
			}
			ev := log.Info()
			switch {
			case quiet(r.URL.Path, metricsPath):
				ev = log.Debug() // a 503 from /readyz while draining is expected
			case status >= 500:
				ev = log.Error()
			}
			ev.Str("method", r.Method).Str("path", r.URL.Path).Int("status", status).
				Int("bytes", ww.BytesWritten()).Stringer("dur", time.Since(start).Round(time.Microsecond)).
				Str("ip", hostOf(r.RemoteAddr)).Str("req", middleware.GetReqID(r.Context())).
				Msg(r.Method + " " + r.URL.Path + " " + itoa(status))
		})
	}
}
