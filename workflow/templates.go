package workflow

import (
	htmltemplate "html/template"
	texttemplate "text/template"
)

var textTmpl = texttemplate.Must(texttemplate.New("text").Parse(`Hello {{.Name}},

{{.Lead}}
{{.When}}
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
<p style="color:#4d5662;">{{.When}}</p>
{{if .Justification}}<p><strong>Justification:</strong> {{.Justification}}</p>{{end}}
{{if .Detail}}<p>{{.Detail}}</p>{{end}}
<p><a href="{{.Link}}" style="background:#0b5cad;color:#fff;padding:.5rem 1rem;border-radius:6px;text-decoration:none;">Open in Tessera</a></p>
<p style="color:#4d5662;font-size:.9rem;">Tessera identity portal</p>
</body></html>
`))

var codeTextTmpl = texttemplate.Must(texttemplate.New("code-text").Parse(`Hello{{if .Name}} {{.Name}}{{end}},

{{.Lead}}

    {{.Code}}

The code works once, for {{.Minutes}} minutes. If you did not ask for it, ignore this mail: nothing changes without the code. Tessera never asks for this code by phone or mail.

-- 
Tessera identity portal
`))

var codeHTMLTmpl = htmltemplate.Must(htmltemplate.New("code-html").Parse(`<!DOCTYPE html>
<html lang="en"><body style="font-family: system-ui, sans-serif; color: #1b1f24;">
<p>Hello{{if .Name}} {{.Name}}{{end}},</p>
<p>{{.Lead}}</p>
<p style="font-size:1.5rem;letter-spacing:.2rem;font-family:ui-monospace,monospace;"><strong>{{.Code}}</strong></p>
<p>The code works once, for {{.Minutes}} minutes. If you did not ask for it, ignore this mail: nothing changes without the code. Tessera never asks for this code by phone or mail.</p>
<p style="color:#4d5662;font-size:.9rem;">Tessera identity portal</p>
</body></html>
`))
