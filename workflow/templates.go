package workflow

import (
	htmltemplate "html/template"
	texttemplate "text/template"
)

var textTmpl = texttemplate.Must(texttemplate.New("text").Parse(`Hello {{.Name}},

{{.Lead}}
{{if .Justification}}
Justification: {{.Justification}}
{{end}}{{if .Detail}}
{{.Detail}}
{{end}}
Open it in Tessera: {{.Link}}

-- 
Tessera identity portal
`))

var htmlTmpl = htmltemplate.Must(htmltemplate.New("html").Parse(`<!DOCTYPE html>
<html lang="en"><body style="font-family: system-ui, sans-serif; color: #1b1f24;">
<p>Hello {{.Name}},</p>
<p>{{.Lead}}</p>
{{if .Justification}}<p><strong>Justification:</strong> {{.Justification}}</p>{{end}}
{{if .Detail}}<p>{{.Detail}}</p>{{end}}
<p><a href="{{.Link}}" style="background:#0b5cad;color:#fff;padding:.5rem 1rem;border-radius:6px;text-decoration:none;">Open in Tessera</a></p>
<p style="color:#4d5662;font-size:.9rem;">Tessera identity portal</p>
</body></html>
`))
