package bus

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/url"
	"strings"

	"github.com/nats-io/nats.go"
)

// securityOptions turns the TLS and authentication settings of opts into
// nats.go options. Every file is read now, so that a missing or unusable
// file fails Open with the key it came from instead of a bare nats.go
// error at connect time. An embedded bus takes none of them.
func securityOptions(opts Options, embedded bool) ([]nats.Option, error) {
	prefix := "services.buses." + busKey(opts.BusName)
	set := opts.securityKeys()
	if embedded {
		if len(set) > 0 {
			return nil, fmt.Errorf("bus: %s: %s not used with url %q: the in-process server listens on 127.0.0.1 without TLS or authentication",
				prefix, strings.Join(set, ", "), EmbeddedURL)
		}
		return nil, nil
	}
	if opts.Credentials != "" {
		for _, k := range set {
			if k != "credentials" && !strings.HasPrefix(k, "tls") {
				return nil, fmt.Errorf("bus: %s.%s: cannot be used with credentials: the credentials file already identifies the user", prefix, k)
			}
		}
	}

	var out []nats.Option
	// check applies o to a scratch copy of the options: the file-reading
	// options of nats.go load their files when applied.
	check := func(key string, o nats.Option) error {
		scratch := nats.GetDefaultOptions()
		if err := o(&scratch); err != nil {
			return fmt.Errorf("bus: %s.%s: %w", prefix, key, err)
		}
		out = append(out, o)
		return nil
	}

	if t := opts.TLS; t.enabled() {
		// Secure comes first: RootCAs and ClientCert add to its tls.Config.
		out = append(out, nats.Secure(&tls.Config{MinVersion: tls.VersionTLS12, ServerName: t.ServerName}))
		if t.CA != "" {
			if err := check("tls.ca", nats.RootCAs(t.CA)); err != nil {
				return nil, err
			}
		}
		switch {
		case t.Cert != "" && t.Key != "":
			if err := check("tls.cert", nats.ClientCert(t.Cert, t.Key)); err != nil {
				return nil, fmt.Errorf("%w (tls.cert %q, tls.key %q)", err, t.Cert, t.Key)
			}
		case t.Cert != "":
			return nil, fmt.Errorf("bus: %s.tls.key: required with tls.cert", prefix)
		case t.Key != "":
			return nil, fmt.Errorf("bus: %s.tls.cert: required with tls.key", prefix)
		}
	}

	switch {
	case opts.Credentials != "":
		o := nats.UserCredentials(opts.Credentials)
		scratch := nats.GetDefaultOptions()
		if err := o(&scratch); err != nil {
			return nil, fmt.Errorf("bus: %s.credentials: %w", prefix, err)
		}
		// nats.go reads the file at each connect; read it now as well.
		if _, err := scratch.UserJWT(); err != nil {
			return nil, fmt.Errorf("bus: %s.credentials: %w", prefix, err)
		}
		if _, err := scratch.SignatureCB([]byte("mega")); err != nil {
			return nil, fmt.Errorf("bus: %s.credentials: %w", prefix, err)
		}
		out = append(out, o)
	case opts.NKey != "":
		o, err := nats.NkeyOptionFromSeed(opts.NKey)
		if err != nil {
			return nil, fmt.Errorf("bus: %s.nkey: no usable user nkey seed in %q: %w", prefix, opts.NKey, err)
		}
		out = append(out, o)
	}
	if opts.Token != "" {
		out = append(out, nats.Token(opts.Token))
	}
	if opts.User != "" || opts.Password != "" {
		out = append(out, nats.UserInfo(opts.User, opts.Password))
	}
	return out, nil
}

// securityKeys lists the TLS and authentication keys that are set, in
// config order.
func (o Options) securityKeys() []string {
	var set []string
	for _, s := range []struct{ key, value string }{
		{"tls.ca", o.TLS.CA}, {"tls.cert", o.TLS.Cert}, {"tls.key", o.TLS.Key}, {"tls.serverName", o.TLS.ServerName},
		{"credentials", o.Credentials}, {"nkey", o.NKey}, {"token", o.Token}, {"user", o.User}, {"password", o.Password},
	} {
		if s.value != "" {
			set = append(set, s.key)
		}
	}
	return set
}

// authMethod is how a bus authenticates: the config keys that carry its
// credentials ("credentials", "user", "password", "url", ...), none for
// no authentication.
type authMethod []string

// authOf returns how the bus of opts authenticates. A user or token in a
// URL wins over the keys, as in nats.go.
func authOf(opts Options) authMethod {
	for part := range strings.SplitSeq(opts.URL, ",") {
		if u, err := url.Parse(strings.TrimSpace(part)); err == nil && u.User != nil {
			return authMethod{"url"}
		}
	}
	switch {
	case opts.Credentials != "":
		return authMethod{"credentials"}
	case opts.NKey != "":
		return authMethod{"nkey"}
	case opts.Token != "":
		return authMethod{"token"}
	case opts.User != "" || opts.Password != "":
		return authMethod{"user", "password"}
	}
	return nil
}

// authKeys names the keys of bus name that carry its credentials, for
// messages.
func authKeys(name string, m authMethod) string {
	prefix := "services.buses." + busKey(name)
	switch {
	case len(m) == 0:
		return prefix + ": it sends no credentials; set credentials, nkey, token, or user and password"
	case m[0] == "url":
		return "the user or token in " + prefix + ".url"
	}
	keys := make([]string, len(m))
	for i, k := range m {
		keys[i] = prefix + "." + k
	}
	return strings.Join(keys, " and ")
}

// isAuthError reports whether err is the server refusing the credentials.
func isAuthError(err error) bool {
	return errors.Is(err, nats.ErrAuthorization) || errors.Is(err, nats.ErrAuthExpired) ||
		errors.Is(err, nats.ErrAuthRevoked) || errors.Is(err, nats.ErrAccountAuthExpired)
}

// connectHint says which setting to check after the first connect failed
// with err, or "" when the failure is not about TLS or credentials.
func connectHint(opts Options, err error) string {
	prefix := "services.buses." + busKey(opts.BusName)
	var (
		unknownCA x509.UnknownAuthorityError
		hostErr   x509.HostnameError
		invalid   x509.CertificateInvalidError
	)
	switch {
	case errors.As(err, &unknownCA):
		if opts.TLS.CA == "" {
			return "the servers' certificate is signed by a CA this host does not trust: set " + prefix + ".tls.ca to the CA certificate that signed it"
		}
		return fmt.Sprintf("the servers' certificate is not signed by the CA in %s.tls.ca (%s): set it to the CA certificate that signed the servers' certificates", prefix, opts.TLS.CA)
	case errors.As(err, &hostErr):
		names := "no DNS name"
		if hostErr.Certificate != nil && len(hostErr.Certificate.DNSNames) > 0 {
			names = strings.Join(hostErr.Certificate.DNSNames, ", ")
		}
		return fmt.Sprintf("the servers' certificate is for %s, not for the host in the URL: use that name in %s.url, or set %s.tls.serverName to it",
			names, prefix, prefix)
	case errors.As(err, &invalid):
		return "the servers' certificate is not valid: renew it on the servers"
	case strings.Contains(err.Error(), "remote error: tls:"), strings.Contains(err.Error(), "closed by remote after TLS handshake"):
		// The server's alert, or (depending on timing) only the closed
		// connection: nats.go says the latter usually means the same.
		if opts.TLS.Cert == "" {
			return "the server ended the TLS session: it wants a client certificate (mutual TLS); set " + prefix + ".tls.cert and .tls.key"
		}
		return fmt.Sprintf("the server ended the TLS session: it refused the client certificate in %s.tls.cert (%s); check that a CA the servers trust signed it and that it has not expired",
			prefix, opts.TLS.Cert)
	case errors.Is(err, nats.ErrSecureConnWanted):
		return "the server does not offer TLS: remove " + prefix + ".tls, or enable TLS on the servers"
	case errors.Is(err, nats.ErrAuthExpired), errors.Is(err, nats.ErrAuthRevoked), errors.Is(err, nats.ErrAccountAuthExpired):
		return "the server says the credentials expired or were revoked: renew " + authKeys(opts.BusName, authOf(opts))
	case errors.Is(err, nats.ErrAuthorization):
		m := authOf(opts)
		if len(m) == 0 {
			return "the server requires authentication: set " + prefix + ".credentials, .nkey, .token, or .user and .password"
		}
		return "the server refused the credentials: check " + authKeys(opts.BusName, m) + " against the servers' authorization settings"
	case errors.Is(err, nats.ErrTLS):
		return "the TLS handshake failed: check " + prefix + ".tls and that the URL is the servers' client port"
	}
	return ""
}
