package generator

import "fmt"

// ChannelOptions says what Channel adds.
type ChannelOptions struct {
	// Dir is the app's root; see ResourceOptions.Dir.
	Dir string
	// App is the directory under apps/ to add to; "main" when empty.
	App string
	// Name is the channel's snake-case name: its namespace (/ws/<name>),
	// message types (<name>.send) and file (apps/<app>/<name>_channel.go).
	Name string
	// Force overwrites the channel's files when they exist.
	Force bool
}

// channelData is what the channel templates use.
type channelData struct {
	// Package, Import and App locate the app (see appData).
	Package, Import, App string
	// Name is the snake-case name, Path the namespace, Type the Go type
	// (NotificationsChannel), Var the unexported prefix (notifications).
	Name, Path, Type, Var string
}

// Channel plans a WebSocket channel in an existing app: apps/<app>/<name>_channel.go,
// its test, the support files they need when missing, and its mount in
// app.go with the name-based auth and presence events.
func Channel(opts ChannelOptions) (*Plan, error) {
	if err := CheckName("channel", opts.Name); err != nil {
		return nil, err
	}
	a, err := findApp(opts.Dir, opts.App)
	if err != nil {
		return nil, err
	}
	d := channelData{
		Package: a.data.Package, Import: a.data.Import, App: a.data.App,
		Name: opts.Name, Path: "/ws/" + opts.Name,
		Type: goName(opts.Name) + "Channel", Var: lowerCamel(opts.Name),
	}
	files, err := render("channel", d, names{app: a.data.App, name: opts.Name}, mustCreate)
	if err != nil {
		return nil, err
	}
	return a.addPlan(files, registration{
		stmt:  fmt.Sprintf("app.Channel(%q, new%s(), mega.WithAuth(nameAuth), mega.WithPresenceEvents())", d.Path, d.Type),
		key:   fmt.Sprintf("app.Channel(%q, new%s()", d.Path, d.Type),
		taken: fmt.Sprintf("%q", d.Path),
	}, opts.Force)
}
