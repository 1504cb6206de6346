// Package e2e holds mega's end-to-end tests: the sample app (sample/crud,
// the output of `mega new crud`) is built into a binary, two instances run
// as real processes sharing one NATS server, and headless Chromium, driven
// by chromedp, uses the chat page the way a person does.
//
//	go test ./e2e/
//
// The tests skip when no Chromium is found: set MEGA_CHROMIUM to its path,
// or install Debian's package (apt-get install chromium). MEGA_E2E_APP
// points them at another app directory with the same page, for example a
// freshly generated one.
//
// The screenshot of the chat page in docs/ is made by the same harness:
//
//	go test ./e2e/ -run '^TestScreenshot$' -args -screenshot "$PWD/docs/chat.png"
package e2e
