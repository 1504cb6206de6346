// Package docsync keeps the documentation's Go code running. Its tests
// (there is no other code) extract every Go snippet of the documents they
// list and fail unless each one appears verbatim, up to indentation and
// gofmt's spacing, in a test file that compiles and runs it: inside an
// Example with an "Output:" comment or a Test, or in a declaration such a
// function uses. Edit a snippet without its example, or the example
// without the snippet, and go test fails here. See docsync_test.go for the
// rules and how a document names the file that runs its snippets.
package docsync
