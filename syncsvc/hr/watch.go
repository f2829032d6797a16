package hr

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/tessera-idm/tessera/portal"
)

// WatchHRFolders receives every *.csv file in the HR sources' watched
// folders, applying each (unless it stops at the leaver threshold), and
// moves it to the folder's "processed" subfolder, or to "refused" when it
// cannot be read at all, so that it is received once.
func (s *Service) WatchHRFolders(ctx context.Context) error {
	sources, err := s.Sources(ctx)
	if err != nil {
		return err
	}
	for _, src := range sources {
		if src.Settings.Folder == "" {
			continue
		}
		if err := s.watch(ctx, src); err != nil {
			// One folder's trouble does not keep the others waiting.
			s.logger().Error("HR folder not read", "system", src.Name, "folder", src.Settings.Folder, "error", err)
		}
	}
	return nil
}

func (s *Service) watch(ctx context.Context, src Source) error {
	entries, err := os.ReadDir(src.Settings.Folder)
	if err != nil {
		return err
	}
	for _, e := range entries {
		if !e.Type().IsRegular() || !strings.EqualFold(filepath.Ext(e.Name()), ".csv") {
			continue
		}
		path := filepath.Join(src.Settings.Folder, e.Name())
		content, err := readFile(path)
		if err != nil {
			return err
		}
		_, err = s.Receive(ctx, portal.Viewer{}, Incoming{SystemID: src.ID, Source: "folder", Filename: e.Name(), Content: content, Apply: true})
		to := "processed"
		if err != nil {
			if portal.ErrorCode(err) != portal.EINVALID {
				return err // the database: the file stays for the next look
			}
			to = "refused"
			s.logger().Warn("HR file refused", "system", src.Name, "file", path, "reason", portal.ErrorMessage(err))
		}
		if err := moveTo(path, filepath.Join(src.Settings.Folder, to)); err != nil {
			return err
		}
	}
	return nil
}

// readFile reads a file of at most MaxFileBytes.
func readFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, MaxFileBytes+1))
	if err != nil {
		return nil, err
	}
	return b, nil
}

// moveTo moves path into dir, under a name stamped with the time so that
// a file sent every day under one name never overwrites the last.
func moveTo(path, dir string) error {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return err
	}
	dest := filepath.Join(dir, time.Now().UTC().Format("20060102T150405.000000000Z")+"-"+filepath.Base(path))
	if err := os.Rename(path, dest); err != nil {
		return fmt.Errorf("hr: move %s to %s: %w", path, dir, err)
	}
	return nil
}
