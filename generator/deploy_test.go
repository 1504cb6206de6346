package generator_test

import (
	"bufio"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/matryer/is"
	"go.yaml.in/yaml/v3"

	"github.com/megaframework/mega/generator"
)

// newPlan plans a new app named crud (module crud) without writing it.
func newPlan(t *testing.T) *generator.Plan {
	t.Helper()
	plan, err := generator.New(generator.NewOptions{Name: "crud", Dir: filepath.Join(t.TempDir(), "crud"), Framework: repoRoot(t)})
	if err != nil {
		t.Fatal(err)
	}
	return plan
}

// goDirective returns the go line of a go.mod.
func goDirective(t *testing.T, gomod string) string {
	t.Helper()
	f, err := os.Open(gomod)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "go "); ok {
			return strings.TrimSpace(v)
		}
	}
	t.Fatalf("%s has no go line", gomod)
	return ""
}

// flagValue returns the value of -name in argv ("-name value" or
// "-name=value"), or "".
func flagValue(argv []string, name string) string {
	for i, a := range argv {
		if v, ok := strings.CutPrefix(a, name+"="); ok {
			return v
		}
		if a == name && i+1 < len(argv) {
			return argv[i+1]
		}
	}
	return ""
}

// TestDockerfile checks the image mega new describes: a static binary
// built from vendor/ by the Go of the framework's go directive, on a small
// base image, as a non-root user, with nothing but the binary and
// mega.yaml. TestImageBuildsWithoutTheCheckout runs it.
func TestDockerfile(t *testing.T) {
	is := is.New(t)
	plan := newPlan(t)
	d := parseDockerfile(t, plan.File("Dockerfile"))
	is.Equal(len(d.stages), 2) // a builder and the image
	build, img := d.stages[0], d.final()

	is.Equal(build.image, "golang:"+goDirective(t, filepath.Join(repoRoot(t), "go.mod"))+"-alpine")
	env, argv := build.goBuild(t)
	is.Equal(env["CGO_ENABLED"], "0")       // a static binary
	is.Equal(env["GOFLAGS"], "-mod=vendor") // the framework comes from vendor/
	is.Equal(env["GOPROXY"], "off")         // and nothing from the network
	is.Equal(env["GOTOOLCHAIN"], "local")   // the image's Go, never a download
	is.True(slices.Contains(argv, "-trimpath"))
	is.True(slices.Contains(argv, "-ldflags=-s -w"))
	binary := flagValue(argv, "-o")
	is.True(binary != "")

	is.True(!strings.HasPrefix(img.image, "golang:")) // the image is not the toolchain
	uid, _, _ := strings.Cut(img.user, ":")
	n, err := strconv.Atoi(uid)
	is.NoErr(err) // USER is numeric, so Kubernetes' runAsNonRoot can check it
	is.True(n > 0)
	is.Equal(img.expose, []string{"8080"})
	is.Equal(img.env["PORT"], "8080")
	is.True(strings.Contains(img.healthcheck, "/readyz"))

	// The image holds the binary and mega.yaml, nothing else: the page's
	// files are embedded in the binary.
	is.True(strings.Contains(string(plan.File("apps/main/page.go")), "//go:embed static"))
	var copied []string
	for _, c := range img.copies {
		is.Equal(len(c.src), 1)
		copied = append(copied, c.from+":"+c.src[0]+" -> "+c.dst)
	}
	is.Equal(copied, []string{
		build.name + ":" + path.Join(build.workdir, binary) + " -> " + path.Join(img.workdir, "server"),
		":mega.yaml -> " + path.Join(img.workdir, "mega.yaml"),
	})
	is.Equal(img.entrypoint, []string{path.Join(img.workdir, "server")})
}

// TestDockerIgnore checks that the build context keeps what the build
// reads (vendor/ above all) and leaves out git, local state and output.
func TestDockerIgnore(t *testing.T) {
	is := is.New(t)
	ignore := parseDockerIgnore(t, newPlan(t).File(".dockerignore"))
	for _, p := range []string{".git/config", "data/app.db", "data", "bin/server", "tmp/x", "app.db", "apps/main/test.db-wal"} {
		is.True(ignore.ignores(p)) // left out
	}
	for _, p := range []string{"vendor/modules.txt", "vendor/github.com/megaframework/mega/framework/app.go",
		"go.mod", "go.sum", "main.go", "mega.yaml", "apps/main/static/app.js", "apps/main/binder.go"} {
		is.True(!ignore.ignores(p)) // sent to the build
	}
	// git ignores vendor/ (task vendor's copy; see docs/deploy.md).
	is.True(slices.Contains(strings.Split(string(newPlan(t).File(".gitignore")), "\n"), "vendor/"))
}

// composeFile is the part of compose.yaml TestComposeFile reads.
type composeFile struct {
	Services map[string]composeService `yaml:"services"`
	Volumes  map[string]any            `yaml:"volumes"`
}

type composeService struct {
	Image       string            `yaml:"image"`
	Build       string            `yaml:"build"`
	Command     []string          `yaml:"command"`
	Environment map[string]string `yaml:"environment"`
	Ports       []string          `yaml:"ports"`
	Volumes     []string          `yaml:"volumes"`
	DependsOn   map[string]struct {
		Condition string `yaml:"condition"`
	} `yaml:"depends_on"`
	Healthcheck struct {
		Test []string `yaml:"test"`
	} `yaml:"healthcheck"`
}

// TestComposeFile reads compose.yaml: three NATS servers in one cluster,
// each routed to the two others; two app instances built from the
// Dockerfile, each given all three servers in NATS_URL, health-checked on
// /readyz, published on 8080 and 8081, sharing the database volume.
func TestComposeFile(t *testing.T) {
	is := is.New(t)
	plan := newPlan(t)
	var c composeFile
	is.NoErr(yaml.Unmarshal(plan.File("compose.yaml"), &c))
	img := parseDockerfile(t, plan.File("Dockerfile")).final()

	type natsNode struct{ client, cluster string } // host:port as the others reach it
	nats := map[string]natsNode{}
	clusterNames := map[string]bool{}
	routes := map[string][]string{}
	var apps []string
	for name, s := range c.Services {
		switch {
		case strings.HasPrefix(s.Image, "nats:"):
			flags := map[string]string{}
			for i := 0; i+1 < len(s.Command); i += 2 {
				flags[s.Command[i]] = s.Command[i+1]
			}
			clusterNames[flags["--cluster_name"]] = true
			listen, err := url.Parse(flags["--cluster"])
			is.NoErr(err)
			port := flags["--port"]
			if port == "" {
				port = "4222"
			}
			nats[name] = natsNode{client: name + ":" + port, cluster: name + ":" + listen.Port()}
			for r := range strings.SplitSeq(flags["--routes"], ",") {
				u, err := url.Parse(r)
				is.NoErr(err)
				routes[name] = append(routes[name], u.Host)
			}
			is.True(len(s.Healthcheck.Test) > 0) // apps wait for healthy servers
		case s.Build != "":
			apps = append(apps, name)
		default:
			t.Errorf("service %s is neither a nats server nor built from the Dockerfile", name)
		}
	}
	is.Equal(len(nats), 3)         // three NATS servers
	is.Equal(len(clusterNames), 1) // in one cluster
	is.True(!clusterNames[""])     // with a name
	var clients []string
	for name, node := range nats {
		var others []string
		for other, o := range nats {
			if other != name {
				others = append(others, o.cluster)
			}
		}
		slices.Sort(others)
		slices.Sort(routes[name])
		is.Equal(routes[name], others) // each routed to the two others
		clients = append(clients, node.client)
	}
	slices.Sort(clients)

	slices.Sort(apps)
	is.Equal(len(apps), 2) // two instances
	var published []string
	for _, name := range apps {
		s := c.Services[name]
		var urls []string
		for u := range strings.SplitSeq(s.Environment["NATS_URL"], ",") {
			parsed, err := url.Parse(u)
			is.NoErr(err)
			urls = append(urls, parsed.Host)
		}
		slices.Sort(urls)
		is.Equal(urls, clients) // every instance knows all three servers
		for n := range nats {
			is.Equal(s.DependsOn[n].Condition, "service_healthy")
		}

		port := img.env["PORT"]
		if p, ok := s.Environment["PORT"]; ok {
			port = p
		}
		is.Equal(len(s.Ports), 1)
		host, container, _ := strings.Cut(s.Ports[0], ":")
		is.Equal(container, port) // the published port is the one the app listens on
		published = append(published, host)
		check := strings.Join(s.Healthcheck.Test, " ")
		is.True(strings.Contains(check, "http://127.0.0.1:"+port+"/readyz"))

		// One named volume on the directory SQLite writes to (data/app.db
		// under the image's WORKDIR), the same for both instances.
		is.Equal(s.Volumes, []string{"data:" + path.Join(img.workdir, "data")})
	}
	is.Equal(published, []string{"8080", "8081"})
	_, ok := c.Volumes["data"]
	is.True(ok)
	is.True(strings.Contains(string(plan.File("mega.yaml")), "file:data/app.db"))
}

// TestDeployDocShowsTheGeneratedFiles keeps docs/deploy.md in step with
// the templates: its Dockerfile block has the generated Dockerfile's
// instructions, and it names the NATS image compose.yaml runs.
func TestDeployDocShowsTheGeneratedFiles(t *testing.T) {
	is := is.New(t)
	plan := newPlan(t)
	doc, err := os.ReadFile(filepath.Join(repoRoot(t), "docs", "deploy.md"))
	is.NoErr(err)
	_, block, ok := strings.Cut(string(doc), "```dockerfile\n")
	is.True(ok) // docs/deploy.md shows the Dockerfile
	block, _, _ = strings.Cut(block, "```")
	want := dockerLines(string(plan.File("Dockerfile")))
	if got := dockerLines(block); !slices.Equal(got, want) {
		t.Fatalf("docs/deploy.md's Dockerfile block differs from the generated Dockerfile:\n%s",
			firstDiff([]byte(strings.Join(want, "\n")), []byte(strings.Join(got, "\n"))))
	}
	var c composeFile
	is.NoErr(yaml.Unmarshal(plan.File("compose.yaml"), &c))
	is.True(strings.Contains(string(doc), "`"+c.Services["nats1"].Image+"`"))
}
