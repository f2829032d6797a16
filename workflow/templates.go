package workflow

import (
	htmltemplate "html/template"
	texttemplate "text/template"
)

// The mail templates hold no words: mailData and codeMailData carry every
// text, written in the reader's language by portal/i18n.

var textTmpl = texttemplate.Must(texttemplate.New("text").Parse(`{{.Hello}}

{{.Lead}}
{{.When}}
{{if .Justification}}
{{.JustificationLabel}} {{.Justification}}
{{end}}{{if .Detail}}
{{.Detail}}
{{end}}
{{.OpenText}} {{.Link}}

-- 
{{.Footer}}
`))

var htmlTmpl = htmltemplate.Must(htmltemplate.New("html").Parse(`<!DOCTYPE html>
<html lang="{{.Lang}}"><body style="font-family: system-ui, sans-serif; color: #1b1f24;">
<p>{{.Hello}}</p>
<p>{{.Lead}}</p>
<p style="color:#4d5662;">{{.When}}</p>
{{if .Justification}}<p><strong>{{.JustificationLabel}}</strong> {{.Justification}}</p>{{end}}
{{if .Detail}}<p>{{.Detail}}</p>{{end}}
<p><a href="{{.Link}}" style="background:#0b5cad;color:#fff;padding:.5rem 1rem;border-radius:6px;text-decoration:none;">{{.OpenButton}}</a></p>
<p style="color:#4d5662;font-size:.9rem;">{{.Footer}}</p>
</body></html>
`))

var codeTextTmpl = texttemplate.Must(texttemplate.New("code-text").Parse(`{{.Hello}}

{{.Lead}}

    {{.Code}}

{{.Works}}

-- 
{{.Footer}}
`))

var codeHTMLTmpl = htmltemplate.Must(htmltemplate.New("code-html").Parse(`<!DOCTYPE html>
<html lang="{{.Lang}}"><body style="font-family: system-ui, sans-serif; color: #1b1f24;">
<p>{{.Hello}}</p>
<p>{{.Lead}}</p>
<p style="font-size:1.5rem;letter-spacing:.2rem;font-family:ui-monospace,monospace;"><strong>{{.Code}}</strong></p>
<p>{{.Works}}</p>
<p style="color:#4d5662;font-size:.9rem;">{{.Footer}}</p>
</body></html>
`))
