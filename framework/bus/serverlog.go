package bus

import (
	"fmt"
	"sync"

	"github.com/rs/zerolog"
)

// serverLogger forwards an embedded nats-server's log lines to zerolog:
// notices at debug level, warnings and errors as such. Fatal lines (for
// example "cannot listen on port") never exit the process; they are logged
// as errors and remembered so Open can say why the server did not start.
type serverLogger struct {
	log zerolog.Logger

	mu      sync.Mutex
	failure string
}

func (l *serverLogger) Noticef(format string, v ...any) {
	l.log.Debug().Str("source", "nats-server").Msgf(format, v...)
}

func (l *serverLogger) Warnf(format string, v ...any) {
	l.log.Warn().Str("source", "nats-server").Msgf(format, v...)
}

func (l *serverLogger) Fatalf(format string, v ...any) {
	msg := fmt.Sprintf(format, v...)
	l.mu.Lock()
	l.failure = msg
	l.mu.Unlock()
	l.log.Error().Str("source", "nats-server").Msg(msg)
}

func (l *serverLogger) Errorf(format string, v ...any) {
	l.log.Error().Str("source", "nats-server").Msgf(format, v...)
}

func (l *serverLogger) Debugf(format string, v ...any) {
	l.log.Trace().Str("source", "nats-server").Msgf(format, v...)
}

func (l *serverLogger) Tracef(format string, v ...any) {
	l.log.Trace().Str("source", "nats-server").Msgf(format, v...)
}

// lastFailure returns the last fatal message, or "".
func (l *serverLogger) lastFailure() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.failure
}
