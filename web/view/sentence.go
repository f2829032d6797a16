package view

import (
	"context"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/a-h/templ"

	"github.com/tessera-idm/tessera/portal/i18n"
)

// sentence writes key in the reader's language with each %s replaced by the
// next of parts, so that a sentence with markup inside it (a name in <bdi>,
// a link) is translated whole and each language orders its words its own
// way ("%[2]s … %[1]s"). The text around the parts is escaped.
func sentence(key string, parts ...templ.Component) templ.Component {
	return templ.ComponentFunc(func(ctx context.Context, w io.Writer) error {
		marks := make([]any, len(parts))
		for i := range parts {
			marks[i] = fmt.Sprintf("\x00%d\x00", i)
		}
		pieces := strings.Split(i18n.T(ctx, key, marks...), "\x00")
		for i, piece := range pieces {
			if i%2 == 0 {
				if _, err := io.WriteString(w, templ.EscapeString(piece)); err != nil {
					return err
				}
				continue
			}
			n, err := strconv.Atoi(piece)
			if err != nil || n >= len(parts) {
				return fmt.Errorf("view: sentence %q: bad part %q", key, piece)
			}
			if err := parts[n].Render(ctx, w); err != nil {
				return err
			}
		}
		return nil
	})
}
