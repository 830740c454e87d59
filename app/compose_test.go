package app

import (
	"bytes"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/matryer/is"
	"gopkg.in/yaml.v3"
)

// The compose file is how most people will first run the service: it must
// not ship a secret anyone can read, nor put the database on the network.
func TestComposeHasNoSecretsAndNoOpenDatabase(t *testing.T) {
	is := is.New(t)
	raw, err := os.ReadFile("../docker-compose.yml")
	is.NoErr(err)
	var compose struct {
		Services map[string]struct {
			Command     []string                     `yaml:"command"`
			Ports       []string                     `yaml:"ports"`
			Environment map[string]string            `yaml:"environment"`
			DependsOn   map[string]map[string]string `yaml:"depends_on"`
		} `yaml:"services"`
	}
	is.NoErr(yaml.Unmarshal(raw, &compose)) // the compose file is YAML

	required := regexp.MustCompile(`^\$\{JWT_SECRET:\?[^}$]+\}$`)
	for _, name := range []string{"api", "worker"} {
		svc, ok := compose.Services[name]
		is.True(ok)                                                  // the service exists
		is.True(required.MatchString(svc.Environment["JWT_SECRET"])) // JWT_SECRET must be given: no default to fall back to
	}
	is.Equal(len(compose.Services["postgres"].Ports), 0)                                                                                         // PostgreSQL is not published
	is.True(regexp.MustCompile(`^\$\{POSTGRES_PASSWORD:\?[^}$]+\}$`).MatchString(compose.Services["postgres"].Environment["POSTGRES_PASSWORD"])) // nor has a password anyone can read

	// The service runs as its own role and never holds the owner's
	// password; a one-off migrate does, and starts before it.
	migrate := compose.Services["migrate"]
	is.Equal(migrate.Command, []string{"migrate"})
	is.True(strings.HasPrefix(migrate.Environment["MIGRATE_DATABASE_URL"], "postgres://postgres:${POSTGRES_PASSWORD:?"))
	for _, name := range []string{"api", "worker"} {
		svc := compose.Services[name]
		is.True(strings.HasPrefix(svc.Environment["DATABASE_URL"], "postgres://jobboard_app:${JOBBOARD_DB_PASSWORD:?")) // the restricted role, with a password that must be given
		is.Equal(svc.Environment["DATABASE_URL"], migrate.Environment["DATABASE_URL"])                                  // the one migrate creates
		_, owner := svc.Environment["MIGRATE_DATABASE_URL"]
		is.True(!owner)                                                                   // and not the owner's URL
		is.Equal(svc.DependsOn["migrate"]["condition"], "service_completed_successfully") // after the migrations
	}
	for name, svc := range compose.Services {
		for _, p := range svc.Ports {
			if name == "api" {
				continue // the API is the product
			}
			is.True(strings.HasPrefix(p, "127.0.0.1:")) // anything else only on this machine
		}
	}

	ignore, err := os.ReadFile("../.dockerignore")
	is.NoErr(err) // there is a .dockerignore
	lines := strings.Split(string(ignore), "\n")
	for _, must := range []string{".git", ".jobboard", "bin", "node_modules"} {
		is.True(slices.Contains(lines, must)) // the mail sink (resumes), history, binaries and tools stay out of the image
	}
}

// The project documents its contract itself: nothing in it points to the
// folder outside the repository the contract was first written in.
func TestNothingPointsOutsideTheRepository(t *testing.T) {
	err := filepath.WalkDir("..", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			switch d.Name() {
			case ".git", "node_modules", "testdata":
				return filepath.SkipDir
			}
			return nil
		}
		switch filepath.Ext(path) {
		case ".go", ".md", ".yaml", ".yml", ".json", ".sh", ".sql", ".html", ".js", "":
		default:
			return nil
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		if bytes.Contains(b, []byte("../"+"shared")) {
			t.Errorf("%s points outside the repository (../%s)", path, "shared")
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// Every image is pinned to an exact version, so that what runs is what was
// tested; the metrics listener is reachable only on compose's network; the
// observability profile scrapes the processes that serve metrics.
func TestComposeIsPinnedAndObservable(t *testing.T) {
	is := is.New(t)
	raw, err := os.ReadFile("../docker-compose.yml")
	is.NoErr(err)
	var compose struct {
		Services map[string]struct {
			Image       string            `yaml:"image"`
			Build       any               `yaml:"build"`
			Ports       []string          `yaml:"ports"`
			Profiles    []string          `yaml:"profiles"`
			Environment map[string]string `yaml:"environment"`
		} `yaml:"services"`
	}
	is.NoErr(yaml.Unmarshal(raw, &compose))
	// name:1.2.3, v1.2.3, 1.2.3-bookworm; PostgreSQL's releases have two
	// numbers (15.15), where golang:1.26 would float over releases.
	exact := regexp.MustCompile(`^[a-z0-9./-]+:v?\d+\.\d+\.\d+(-[a-z0-9]+)?$|^postgres:\d+\.\d+(-[a-z0-9]+)?$`)
	for name, svc := range compose.Services {
		if svc.Build != nil {
			continue // the job board itself, built from the Dockerfile
		}
		if !exact.MatchString(svc.Image) {
			t.Errorf("service %s: image %q is not pinned to an exact version", name, svc.Image)
		}
	}
	dockerfile, err := os.ReadFile("../Dockerfile")
	is.NoErr(err)
	for _, line := range strings.Split(string(dockerfile), "\n") {
		if from, ok := strings.CutPrefix(line, "FROM "); ok {
			image := strings.Fields(from)[0]
			if image != "scratch" && !exact.MatchString(image) {
				t.Errorf("Dockerfile: image %q is not pinned to an exact version", image)
			}
		}
	}

	var targets []string
	for _, name := range []string{"api", "worker"} {
		svc := compose.Services[name]
		addr := svc.Environment["METRICS_ADDR"]
		is.True(addr != "") // metrics on a listener of their own
		for _, p := range svc.Ports {
			is.True(!strings.HasSuffix(p, addr)) // which is not published
		}
		targets = append(targets, name+addr)
	}
	for _, name := range []string{"prometheus", "grafana"} {
		is.Equal(compose.Services[name].Profiles, []string{"observability"}) // only with the profile
	}
	prom, err := os.ReadFile("../deploy/prometheus/prometheus.yml")
	is.NoErr(err)
	for _, target := range targets {
		is.True(strings.Contains(string(prom), `"`+target+`"`)) // Prometheus scrapes each process's metrics listener
	}
}
