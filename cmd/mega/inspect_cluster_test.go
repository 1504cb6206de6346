package main

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/matryer/is"

	megafw "github.com/megaframework/mega/framework"
	"github.com/megaframework/mega/framework/inspect"
	"github.com/megaframework/mega/framework/megatest"
	"github.com/megaframework/mega/framework/natstest"
)

// room joins every connection to the presence as ?name=.
type room struct{}

func (room) OnConnect(ctx *megafw.Ctx) error {
	return ctx.Presence.Join(megafw.Entry{UserID: ctx.Request().URL.Query().Get("name")})
}

func (room) OnMessage(*megafw.Ctx, megafw.Message) error { return nil }

func roomApp(env *megafw.Env) (*megafw.App, error) {
	app := env.NewApp()
	app.Channel("/ws/room", room{})
	return app, nil
}

// TestInspectRealInstances runs the command against two booted instances
// sharing one NATS: two clients on the first, one on the second.
func TestInspectRealInstances(t *testing.T) {
	is := is.New(t)
	insts := megatest.BootCluster(t, 2, megafw.Apps{"main": roomApp}, "")
	insts[0].Dial(t, "/ws/room?name=ann")
	insts[0].Dial(t, "/ws/room?name=bob")
	insts[1].Dial(t, "/ws/room?name=cid")
	natstest.WaitFor(t, megatest.Timeout, "both instances to see 3 members", func() bool {
		return len(insts[0].App.List("/ws/room")) == 3 && len(insts[1].App.List("/ws/room")) == 3
	})
	url := insts[0].Instance.BusURL()
	ids := []string{insts[0].Instance.InstanceID(), insts[1].Instance.InstanceID()}

	code, stdout, stderr := mega(t, "inspect", "--nats", url, "--json")
	is.Equal(code, 0)
	is.Equal(stderr, "")
	var res inspect.Result
	is.NoErr(json.Unmarshal([]byte(stdout), &res))
	is.Equal(len(res.Instances), 2)
	is.Equal(len(res.Missing), 0)
	is.Equal(res.Namespaces, []inspect.NamespaceTotal{{App: "main", Namespace: "/ws/room", Members: 3, MembersMin: 3, Connections: 3, Instances: 2}})
	for _, r := range res.Instances {
		k := slices.Index(ids, r.ID)
		is.True(k >= 0)
		is.Equal(r.Listen, insts[k].URL)
		is.Equal(r.Connections, 2-k)
		is.Equal(r.Peers, []string{ids[1-k]})
	}

	code, stdout, stderr = mega(t, "inspect", "--nats", url)
	is.Equal(code, 0)
	is.Equal(stderr, "")
	t.Logf("mega inspect:\n%s", stdout)
	lines := strings.Split(stdout, "\n")
	is.Equal(lines[0], "2 instances on "+url+", prefix mega.ws")
	// The tables are separated by blank lines; index each one's rows by
	// their first column.
	var tables []map[string][]string
	for _, l := range lines[1:] {
		f := strings.Fields(l)
		switch {
		case len(f) == 0:
			tables = append(tables, map[string][]string{})
		case len(tables) > 0:
			tables[len(tables)-1][f[0]] = f
		}
	}
	is.Equal(len(tables), 4) // 3 tables, and the empty last line
	rows := tables[0]
	is.Equal(rows["ID"], []string{"ID", "APPS", "LISTEN", "UPTIME", "CONNECTIONS", "PEERS", "STATUS"})
	for k, id := range ids {
		f := rows[id]
		is.Equal(len(f), 7)
		is.Equal(f[1], "main")
		is.Equal(f[2], insts[k].URL)
		is.Equal(f[4], []string{"2", "1"}[k])
		is.Equal(f[5], "1")
		is.Equal(f[6], "ok")
	}
	is.Equal(tables[1]["main"], []string{"main", "/ws/room", "3", "3"}) // APP NAMESPACE MEMBERS CONNECTIONS
	for _, id := range ids {
		f := tables[2][id] // INSTANCE APP ROSTER PEERS PUBLISHED RECEIVED DROPPED
		is.Equal(len(f), 7)
		is.Equal(f[1:4], []string{"main", "nats", "1"})
		is.Equal(f[6], "0")
	}
}
