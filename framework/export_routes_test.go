package mega

import "io"

// SetRoutesOutput makes Run's routes argument print to w until restore is
// called. It exists for the tests of package mega_test.
func SetRoutesOutput(w io.Writer) (restore func()) {
	old := routesOutput
	routesOutput = w
	return func() { routesOutput = old }
}
