// Package static embeds Tessera's CSS, JavaScript and images and serves them
// under content-hashed URLs, so browsers may cache them forever.
package static

import (
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"io/fs"
	"net/http"
	"path"
	"strings"
)

//go:embed all:assets
var embedded embed.FS

// Assets is the embedded asset tree, rooted at the assets folder.
var Assets, _ = fs.Sub(embedded, "assets")

var (
	hashed   = map[string]string{} // "css/app.css" -> "css/app.3f2a9c1d.css"
	unhashed = map[string]string{} // the reverse
)

func init() {
	fs.WalkDir(Assets, ".", func(p string, d fs.DirEntry, err error) error { //nolint:errcheck
		if err != nil || d.IsDir() || strings.HasPrefix(path.Base(p), ".") {
			return err
		}
		body, err := fs.ReadFile(Assets, p)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(body)
		ext := path.Ext(p)
		h := strings.TrimSuffix(p, ext) + "." + hex.EncodeToString(sum[:5]) + ext
		hashed[p], unhashed[h] = h, p
		return nil
	})
}

// Prefix is where the assets are served.
const Prefix = "/static/"

// Path returns the content-hashed URL of an asset, e.g. Path("css/app.css").
// It panics on an unknown asset, so a typo fails the first test that renders it.
func Path(name string) string {
	h, ok := hashed[name]
	if !ok {
		panic("static: no asset " + name)
	}
	return Prefix + h
}

// Has reports whether the asset exists (e.g. the htmx copy made by the build).
func Has(name string) bool { _, ok := hashed[name]; return ok }

// Handler serves assets by their hashed names with long-lived caching.
func Handler() http.Handler {
	files := http.FileServerFS(Assets)
	return http.StripPrefix(Prefix, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		name, ok := unhashed[r.URL.Path]
		if !ok {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Cache-Control", "public, max-age=31536000, immutable")
		r2 := r.Clone(r.Context())
		r2.URL.Path = name
		files.ServeHTTP(w, r2)
	}))
}

// Favicon answers /favicon.ico, which browsers ask for on their own, with
// the embedded icon (a day's caching: its URL cannot change with it).
func Favicon(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "public, max-age=86400")
	w.Header().Set("Content-Type", "image/x-icon")
	http.ServeFileFS(w, r, Assets, "favicon.ico")
}
