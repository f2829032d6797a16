package main

import (
	"bufio"
	"context"
	"encoding/json"
	"net"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/compose-spec/compose-go/v2/cli"
	"github.com/compose-spec/compose-go/v2/types"
	"github.com/stretchr/testify/require"
)

// No Docker engine runs where these tests run, so docker-compose.yml and
// the Dockerfile are checked against the code instead: compose-go loads
// the file as `docker compose` would, the environment it gives Tessera goes
// through LoadConfig, and every command it runs must be one Main knows.

func repoRoot(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs(filepath.Join("..", ".."))
	require.NoError(t, err)
	require.FileExists(t, filepath.Join(root, "go.mod"))
	return root
}

// testSecretKey is the TESSERA_SECRET_KEY a .env file would give compose.
const testSecretKey = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY="

// loadCompose loads docker-compose.yml with every profile enabled and the
// given variables, and a secret key, as the interpolation environment
// (none: the defaults).
func loadCompose(t *testing.T, env map[string]string) *types.Project {
	t.Helper()
	p, err := tryLoadCompose(t, env, true)
	require.NoError(t, err, "docker-compose.yml does not load")
	return p
}

func tryLoadCompose(t *testing.T, env map[string]string, withKey bool) (*types.Project, error) {
	t.Helper()
	root := repoRoot(t)
	var pairs []string
	if withKey {
		pairs = append(pairs, "TESSERA_SECRET_KEY="+testSecretKey)
	}
	for k, v := range env {
		pairs = append(pairs, k+"="+v)
	}
	opts, err := cli.NewProjectOptions([]string{filepath.Join(root, "docker-compose.yml")},
		cli.WithWorkingDirectory(root), cli.WithEnv(pairs), cli.WithProfiles([]string{"*"}))
	require.NoError(t, err)
	return opts.LoadProject(context.Background())
}

func service(t *testing.T, p *types.Project, name string) types.ServiceConfig {
	t.Helper()
	s, ok := p.Services[name]
	require.True(t, ok, "docker-compose.yml has no service %q (has %v)", name, p.ServiceNames())
	return s
}

func environ(s types.ServiceConfig) map[string]string {
	env := map[string]string{}
	for k, v := range s.Environment {
		if v != nil {
			env[k] = *v
		}
	}
	return env
}

// loadServiceConfig runs LoadConfig on a service's environment and returns
// the configuration and the variables LoadConfig asked for.
func loadServiceConfig(t *testing.T, s types.ServiceConfig) (Config, map[string]bool) {
	t.Helper()
	env := environ(s)
	asked := map[string]bool{}
	cfg, err := LoadConfig(func(k string) string { asked[k] = true; return env[k] })
	require.NoError(t, err, "service %s: Tessera refuses its environment", s.Name)
	for k := range env {
		if strings.HasPrefix(k, "TESSERA_") {
			require.True(t, asked[k], "service %s sets %s, which Tessera does not read", s.Name, k)
		}
	}
	return cfg, asked
}

// requireSubcommand checks that Main dispatches args (it must fail only
// for want of a database, not as an unknown command).
func requireSubcommand(t *testing.T, args []string) {
	t.Helper()
	require.NotEmpty(t, args)
	require.Contains(t, usage, "tessera "+args[0]+" ", "usage does not list %q", args[0])
	require.NotEqual(t, "dev", args[0], "containers run against the compose database, not `dev`")
	var out strings.Builder
	err := Main(context.Background(), args, func(string) string { return "" }, &out)
	require.Error(t, err)
	require.NotContains(t, err.Error(), "unknown command", "tessera %v", args)
	require.Contains(t, err.Error(), "DATABASE_URL is not set", "tessera %v: flags or subcommand rejected", args)
}

func hostPort(t *testing.T, listen string) string {
	t.Helper()
	_, port, err := net.SplitHostPort(listen)
	require.NoError(t, err)
	return port
}

func TestComposeServices(t *testing.T) {
	p := loadCompose(t, nil)
	root := repoRoot(t)

	pg := service(t, p, "postgres")
	tessera := service(t, p, "tessera")
	migrate := service(t, p, "migrate")
	mailpit := service(t, p, "mailpit")

	t.Run("postgres", func(t *testing.T) {
		require.True(t, strings.HasPrefix(pg.Image, "postgres:15"), pg.Image)
		require.NotNil(t, pg.HealthCheck)
		require.False(t, pg.HealthCheck.Disable)
		require.Contains(t, strings.Join(pg.HealthCheck.Test, " "), "pg_isready")
		env := environ(pg)
		for _, k := range []string{"POSTGRES_USER", "POSTGRES_PASSWORD", "POSTGRES_DB"} {
			require.NotEmpty(t, env[k], k)
		}
		require.NotEmpty(t, pg.Volumes, "the database outlives its container")
	})

	t.Run("image", func(t *testing.T) {
		require.NotNil(t, tessera.Build, "tessera is built from the Dockerfile")
		require.DirExists(t, tessera.Build.Context)
		dockerfile := tessera.Build.Dockerfile
		if !filepath.IsAbs(dockerfile) {
			dockerfile = filepath.Join(tessera.Build.Context, dockerfile)
		}
		require.FileExists(t, dockerfile)
		require.Equal(t, filepath.Join(root, "Dockerfile"), dockerfile)
		require.FileExists(t, filepath.Join(tessera.Build.Context, "go.mod"), "the build context is the module root")
		// The one-shot commands run the same image.
		for _, name := range []string{"migrate", "seed"} {
			s, ok := p.Services[name]
			if !ok {
				continue
			}
			require.Equal(t, tessera.Image, s.Image, name)
		}
	})

	t.Run("configuration", func(t *testing.T) {
		pgEnv := environ(pg)
		for _, s := range []types.ServiceConfig{tessera, migrate} {
			cfg, _ := loadServiceConfig(t, s)
			require.NotEmpty(t, cfg.DatabaseURL, "%s needs DATABASE_URL", s.Name)
			u, err := url.Parse(cfg.DatabaseURL)
			require.NoError(t, err)
			require.Contains(t, []string{"postgres", "postgresql"}, u.Scheme)
			require.Equal(t, "postgres", u.Hostname(), "%s reaches the postgres service by its name", s.Name)
			require.Equal(t, pgEnv["POSTGRES_USER"], u.User.Username())
			pw, _ := u.User.Password()
			require.Equal(t, pgEnv["POSTGRES_PASSWORD"], pw)
			require.Equal(t, "/"+pgEnv["POSTGRES_DB"], u.Path)
		}
		cfg, _ := loadServiceConfig(t, tessera)
		require.Equal(t, "0.0.0.0:8080", cfg.Listen, "listen on every interface inside the container")
		require.NotEmpty(t, cfg.BaseURL, "TESSERA_BASE_URL is set")
		require.Equal(t, cfg.BaseURL, cfg.WebConfig().BaseURL)
	})

	t.Run("ports", func(t *testing.T) {
		cfg, _ := loadServiceConfig(t, tessera)
		listen := hostPort(t, cfg.Listen)
		require.Len(t, tessera.Ports, 1)
		port := tessera.Ports[0]
		require.Equal(t, listen, itoa(port.Target), "the published port is the one Tessera listens on")
		require.NotEmpty(t, port.Published)
		// With the defaults, the base URL is the published port on localhost.
		base, err := url.Parse(cfg.BaseURL)
		require.NoError(t, err)
		require.Equal(t, "localhost", base.Hostname())
		require.Equal(t, port.Published, base.Port())
		require.Empty(t, pg.Ports, "PostgreSQL is not published")
	})

	t.Run("healthchecks", func(t *testing.T) {
		cfg, _ := loadServiceConfig(t, tessera)
		require.NotNil(t, tessera.HealthCheck)
		require.False(t, tessera.HealthCheck.Disable)
		test := strings.Join(tessera.HealthCheck.Test, " ")
		require.Contains(t, test, "/healthz")
		require.Regexp(t, `(127\.0\.0\.1|localhost):`+hostPort(t, cfg.Listen)+`/`, test)
		require.Equal(t, "CMD", tessera.HealthCheck.Test[0])
		// curl is in the image (see TestDockerfile).
		require.Equal(t, "curl", tessera.HealthCheck.Test[1])
	})

	t.Run("startup order", func(t *testing.T) {
		require.Equal(t, types.ServiceConditionHealthy, migrate.DependsOn["postgres"].Condition)
		require.Equal(t, types.ServiceConditionHealthy, tessera.DependsOn["postgres"].Condition)
		require.Equal(t, types.ServiceConditionCompletedSuccessfully, tessera.DependsOn["migrate"].Condition,
			"serve refuses a database with pending migrations")
		require.Contains(t, []string{"", "no"}, migrate.Restart, "migrate is a one-shot")
	})

	t.Run("commands", func(t *testing.T) {
		df := parseDockerfile(t, filepath.Join(root, "Dockerfile"))
		entry, cmd := df.final().command()
		require.Equal(t, []string{"tessera"}, entry)
		run := func(s types.ServiceConfig) []string {
			if len(s.Command) > 0 {
				return s.Command
			}
			return cmd
		}
		require.Equal(t, "serve", run(tessera)[0])
		require.Equal(t, []string{"migrate"}, run(migrate))
		for _, s := range p.Services {
			if s.Image == tessera.Image {
				requireSubcommand(t, run(s))
			}
		}
	})

	t.Run("seed", func(t *testing.T) {
		seed, ok := p.Services["seed"]
		if !ok {
			t.Log("no seed service")
			return
		}
		require.NotEmpty(t, seed.Profiles, "seeding is opt-in: a second run would fail on a seeded database")
		require.Equal(t, "seed", seed.Command[0])
		require.Equal(t, types.ServiceConditionCompletedSuccessfully, seed.DependsOn["migrate"].Condition)
		loadServiceConfig(t, seed)
		// Without the profile, seed is not started.
		opts, err := cli.NewProjectOptions([]string{filepath.Join(root, "docker-compose.yml")}, cli.WithWorkingDirectory(root),
			cli.WithEnv([]string{"TESSERA_SECRET_KEY=" + testSecretKey}))
		require.NoError(t, err)
		plain, err := opts.LoadProject(context.Background())
		require.NoError(t, err)
		require.NotContains(t, plain.ServiceNames(), "seed")
		require.Contains(t, plain.ServiceNames(), "tessera")
	})

	t.Run("mail sink", func(t *testing.T) {
		require.True(t, strings.HasPrefix(mailpit.Image, "axllent/mailpit"), mailpit.Image)
		require.NotEmpty(t, mailpit.Ports, "its web UI is reachable")
		// Tessera sends its mail to the sink, over STARTTLS, trusting the
		// certificate the sink presents.
		cfg, _ := loadServiceConfig(t, tessera)
		require.True(t, cfg.SMTP.Enabled(), "Tessera sends mail")
		require.NoError(t, cfg.SMTP.Validate())
		require.Equal(t, "mailpit", cfg.SMTP.Host, "to the mail sink, by its service name")
		smtpPort := 1025 // Mailpit's SMTP port unless MP_SMTP_BIND_ADDR says otherwise
		if bind := environ(mailpit)["MP_SMTP_BIND_ADDR"]; bind != "" {
			smtpPort, _ = strconv.Atoi(hostPort(t, bind))
		}
		require.Equal(t, smtpPort, cfg.SMTP.Port)
		require.Equal(t, "starttls", cfg.SMTP.TLS)
		mailEnv := environ(mailpit)
		require.Equal(t, "true", mailEnv["MP_SMTP_REQUIRE_STARTTLS"])
		// The CA Tessera trusts is the certificate Mailpit serves, on a
		// volume both mount, made by the one-shot that Mailpit waits for.
		require.NotEmpty(t, cfg.SMTP.CAFile)
		require.Equal(t, cfg.SMTP.CAFile, mailEnv["MP_SMTP_TLS_CERT"])
		require.Equal(t, volumeAt(t, tessera, cfg.SMTP.CAFile), volumeAt(t, mailpit, mailEnv["MP_SMTP_TLS_CERT"]))
		require.Equal(t, volumeAt(t, mailpit, mailEnv["MP_SMTP_TLS_KEY"]), volumeAt(t, mailpit, mailEnv["MP_SMTP_TLS_CERT"]))
		certs := service(t, p, "mail-cert")
		require.Equal(t, types.ServiceConditionCompletedSuccessfully, mailpit.DependsOn["mail-cert"].Condition)
		made := strings.Join(certs.Command, " ")
		for _, f := range []string{mailEnv["MP_SMTP_TLS_CERT"], mailEnv["MP_SMTP_TLS_KEY"]} {
			require.Equal(t, volumeAt(t, mailpit, f), volumeAt(t, certs, f))
			require.Contains(t, made, f)
		}
		require.Contains(t, made, "subjectAltName=DNS:mailpit", "the certificate names the host Tessera dials")
	})

	t.Run("secret key", func(t *testing.T) {
		cfg, _ := loadServiceConfig(t, tessera)
		require.NotNil(t, cfg.Sealer, "connected systems can be saved")
		require.Equal(t, testSecretKey, environ(tessera)["TESSERA_SECRET_KEY"], "from the environment (.env), not written in the file")
		_, err := tryLoadCompose(t, nil, false)
		require.Error(t, err, "no key: compose refuses to start")
		require.Contains(t, err.Error(), "set TESSERA_SECRET_KEY in .env")
	})
}

// volumeAt names the volume of s mounted at or above path.
func volumeAt(t *testing.T, s types.ServiceConfig, file string) string {
	t.Helper()
	for _, v := range s.Volumes {
		if strings.HasPrefix(file, strings.TrimSuffix(v.Target, "/")+"/") {
			return v.Source
		}
	}
	t.Fatalf("service %s mounts no volume at %s", s.Name, file)
	return ""
}

// A deployment sets its own base URL and port through the environment.
func TestComposeInterpolation(t *testing.T) {
	p := loadCompose(t, map[string]string{"TESSERA_BASE_URL": "https://id.example.com", "TESSERA_PORT": "9443",
		"POSTGRES_PASSWORD": "s3cret"})
	tessera := service(t, p, "tessera")
	cfg, _ := loadServiceConfig(t, tessera)
	require.Equal(t, "https://id.example.com", cfg.BaseURL)
	require.True(t, cfg.WebConfig().SecureCookies)
	require.Equal(t, "9443", tessera.Ports[0].Published)
	u, err := url.Parse(cfg.DatabaseURL)
	require.NoError(t, err)
	pw, _ := u.User.Password()
	require.Equal(t, "s3cret", pw)
	require.Equal(t, "s3cret", environ(service(t, p, "postgres"))["POSTGRES_PASSWORD"])
}

func itoa(n uint32) string {
	b, _ := json.Marshal(n)
	return string(b)
}

// A minimal Dockerfile reader: instructions with their continuation lines
// joined, grouped by stage.

type instruction struct {
	cmd  string // upper case: FROM, RUN, COPY, ...
	args string
}

type stage struct {
	from, name string
	instrs     []instruction
}

type dockerfile []stage

func parseDockerfile(t *testing.T, file string) dockerfile {
	t.Helper()
	f, err := os.Open(file)
	require.NoError(t, err)
	defer f.Close()
	var df dockerfile
	var line string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		text := strings.TrimSpace(sc.Text())
		if text == "" || strings.HasPrefix(text, "#") {
			continue
		}
		if strings.HasSuffix(text, `\`) {
			line += strings.TrimSuffix(text, `\`) + " "
			continue
		}
		line += text
		cmd, args, _ := strings.Cut(line, " ")
		line = ""
		in := instruction{cmd: strings.ToUpper(cmd), args: strings.TrimSpace(args)}
		if in.cmd == "FROM" {
			fields := strings.Fields(in.args)
			st := stage{from: fields[0]}
			if len(fields) == 3 && strings.EqualFold(fields[1], "AS") {
				st.name = fields[2]
			}
			df = append(df, st)
			continue
		}
		require.NotEmpty(t, df, "instruction before FROM: %s", in.cmd)
		df[len(df)-1].instrs = append(df[len(df)-1].instrs, in)
	}
	require.NoError(t, sc.Err())
	require.Empty(t, line, "unfinished continuation at the end")
	return df
}

func (df dockerfile) final() stage { return df[len(df)-1] }

func (s stage) all(cmd string) []string {
	var out []string
	for _, in := range s.instrs {
		if in.cmd == cmd {
			out = append(out, in.args)
		}
	}
	return out
}

func (s stage) last(cmd string) string {
	all := s.all(cmd)
	if len(all) == 0 {
		return ""
	}
	return all[len(all)-1]
}

// command returns the stage's ENTRYPOINT and CMD, which must be in exec
// (JSON) form so that signals reach Tessera.
func (s stage) command() (entrypoint, cmd []string) {
	decode := func(v string) []string {
		if v == "" {
			return nil
		}
		var out []string
		if err := json.Unmarshal([]byte(v), &out); err != nil {
			return []string{"<shell form: " + v + ">"}
		}
		return out
	}
	return decode(s.last("ENTRYPOINT")), decode(s.last("CMD"))
}

func TestDockerfile(t *testing.T) {
	root := repoRoot(t)
	df := parseDockerfile(t, filepath.Join(root, "Dockerfile"))
	require.GreaterOrEqual(t, len(df), 3, "node, Go and runtime stages")

	var node, gobuild *stage
	for i := range df[:len(df)-1] {
		switch {
		case strings.HasPrefix(df[i].from, "node:"):
			node = &df[i]
		case strings.HasPrefix(df[i].from, "golang:"):
			gobuild = &df[i]
		}
	}

	t.Run("front-end packages", func(t *testing.T) {
		require.NotNil(t, node, "a node stage")
		runs := strings.Join(node.all("RUN"), "\n")
		require.Contains(t, runs, "npm ci")
		require.Contains(t, runs, "node_modules/htmx.org/dist/htmx.min.js")
		require.Contains(t, runs, "static/assets/vendor/")
		require.Contains(t, strings.Join(node.all("COPY"), "\n"), "package-lock.json", "npm ci needs the lock file")
		require.FileExists(t, filepath.Join(root, "package-lock.json"))
	})

	t.Run("build", func(t *testing.T) {
		require.NotNil(t, gobuild, "a golang stage")
		require.True(t, strings.HasPrefix(gobuild.from, "golang:1.26"), gobuild.from)
		runs := strings.Join(gobuild.all("RUN"), "\n")
		require.Regexp(t, `CGO_ENABLED=0 go build .*\./cmd/tessera`, runs)
		require.NotEmpty(t, node.name)
		require.Contains(t, strings.Join(gobuild.all("COPY"), "\n"),
			"--from="+node.name+" /src/static/assets/vendor/htmx.min.js static/assets/vendor/htmx.min.js",
			"the Go build embeds the htmx copy")
		// Every file copied from the build context exists.
		for _, st := range df {
			for _, args := range st.all("COPY") {
				if strings.Contains(args, "--from=") {
					continue
				}
				f := strings.Fields(args)
				for _, src := range f[:len(f)-1] {
					_, err := os.Stat(filepath.Join(root, src))
					require.NoError(t, err, "COPY %s", src)
				}
			}
		}
	})

	t.Run("runtime", func(t *testing.T) {
		fin := df.final()
		require.Regexp(t, `^(gcr\.io/distroless/|debian:[a-z0-9.]+-slim$)`, fin.from)
		user := fin.last("USER")
		require.NotEmpty(t, user, "the final stage sets a user")
		name, _, _ := strings.Cut(user, ":")
		require.NotContains(t, []string{"root", "0"}, name, "Tessera does not run as root")
		require.Contains(t, strings.Join(fin.all("COPY"), "\n"), "--from="+gobuild.name, "the binary comes from the Go stage")
		require.NotEmpty(t, gobuild.name)

		entry, cmd := fin.command()
		require.Equal(t, []string{"tessera"}, entry, "ENTRYPOINT runs tessera, in exec form")
		require.Equal(t, []string{"serve"}, cmd, "CMD is serve, in exec form")
		requireSubcommand(t, cmd)
		// tessera is on the PATH where the binary is copied to.
		require.Regexp(t, `/out/tessera /usr/local/bin/tessera$`, fin.last("COPY"))

		var listen string
		for _, env := range fin.all("ENV") {
			for _, kv := range strings.Fields(env) {
				if v, ok := strings.CutPrefix(kv, "TESSERA_LISTEN="); ok {
					listen = v
				}
			}
		}
		require.Equal(t, "0.0.0.0:8080", listen)
		require.Equal(t, "8080", fin.last("EXPOSE"))
		hc := fin.last("HEALTHCHECK")
		require.Contains(t, hc, "http://127.0.0.1:8080/healthz")
		require.Contains(t, strings.Join(fin.all("RUN"), "\n"), "curl", "the health check's curl is installed")
	})

	t.Run("dockerignore", func(t *testing.T) {
		data, err := os.ReadFile(filepath.Join(root, ".dockerignore"))
		require.NoError(t, err)
		var patterns []string
		for _, l := range strings.Split(string(data), "\n") {
			l = strings.TrimSpace(l)
			if l != "" && !strings.HasPrefix(l, "#") {
				patterns = append(patterns, l)
			}
		}
		for _, p := range []string{".git", "node_modules", "var", "bin"} {
			require.Contains(t, patterns, p, "the build context leaves out %s", p)
		}
		// As Docker reads it: the last pattern that matches the path or a
		// folder above it decides; "!" lets a path back in.
		excluded := func(p string) bool {
			out := false
			for _, pat := range patterns {
				pat, keep := strings.CutPrefix(pat, "!")
				for q := p; q != "." && q != "/"; q = path.Dir(q) {
					if ok, _ := path.Match(pat, q); ok {
						out = !keep
						break
					}
				}
			}
			return out
		}
		// Nothing the build needs is left out of the context.
		for _, need := range []string{"go.mod", "go.sum", "package.json", "package-lock.json", "cmd/tessera/main.go",
			"web/view/layout_templ.go", "portal/person.go", "migrations/migrations.go", "static/static.go",
			"static/assets/css", "static/assets/vendor/.gitkeep"} {
			require.False(t, excluded(need), ".dockerignore leaves out %s", need)
		}
		require.True(t, excluded("static/assets/vendor/htmx.min.js"), "the image takes htmx from npm, not from the working tree")
	})
}
