// Command natscluster runs a routed NATS cluster of --nodes servers in one
// process, on consecutive loopback ports, for the cross-instance load
// scenario: each mega instance connects to a different node, so every
// broadcast crosses a route like it would between machines.
//
//	natscluster --nodes 3 --port 4222    # clients on 4222..4224, routes on 6222..6224
//
// It prints one client URL per line once every node has a route to every
// other, then serves until SIGINT or SIGTERM.
package main

import (
	"flag"
	"fmt"
	"log"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

func main() {
	nodes := flag.Int("nodes", 3, "number of servers")
	port := flag.Int("port", 4222, "client port of the first server; the others follow")
	routePort := flag.Int("route-port", 6222, "cluster port of the first server; the others follow")
	flag.Parse()
	if *nodes < 1 || *nodes > 9 {
		log.Fatal("natscluster: --nodes must be between 1 and 9")
	}
	var routes []string
	for i := range *nodes {
		routes = append(routes, fmt.Sprintf("nats://127.0.0.1:%d", *routePort+i))
	}
	var servers []*server.Server
	for i := range *nodes {
		opts := &server.Options{
			ServerName: fmt.Sprintf("bench-%d", i+1),
			Host:       "127.0.0.1",
			Port:       *port + i,
			NoLog:      true,
			NoSigs:     true,
			Cluster: server.ClusterOpts{
				Name: "mega-bench", Host: "127.0.0.1", Port: *routePort + i,
			},
			Routes: server.RoutesFromStr(strings.Join(routes, ",")),
		}
		s, err := server.NewServer(opts)
		if err != nil {
			log.Fatalf("natscluster: node %d: %v", i+1, err)
		}
		go s.Start()
		if !s.ReadyForConnections(10 * time.Second) {
			log.Fatalf("natscluster: node %d not ready", i+1)
		}
		servers = append(servers, s)
	}
	deadline := time.Now().Add(15 * time.Second)
	for _, s := range servers {
		for peers(s) < *nodes-1 {
			if time.Now().After(deadline) {
				log.Fatalf("natscluster: routes did not form (%s has %d peers)", s.Name(), peers(s))
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	for _, s := range servers {
		fmt.Println(s.ClientURL())
	}
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	<-sig
	for _, s := range servers {
		s.Shutdown()
	}
}

// peers counts the distinct servers s has a route to (a pair of servers may
// use a pool of several routes).
func peers(s *server.Server) int {
	rz, err := s.Routez(&server.RoutezOptions{})
	if err != nil {
		return 0
	}
	ids := map[string]bool{}
	for _, r := range rz.Routes {
		ids[r.RemoteID] = true
	}
	return len(ids)
}
