package web

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/tessera-idm/tessera/portal"
	"github.com/tessera-idm/tessera/portal/i18n"
)

// Every byte a person sends reaches a handler through readInput, the one
// form decoder of the web layer: it reads the query and the posted form
// once, refuses what no field may hold (bytes that are not UTF-8, NUL and
// other control characters, line breaks in a one-line field) and bodies
// over maxFormBytes, and trims the spaces around the fields that are
// stored, saying so on the page that follows. Handlers read the result
// with input(r); TestOneFormDecoder keeps them from reading the request
// any other way.

// maxFormBytes bounds a request's body: the largest form (a sync rule, a
// CA certificate) is a few kilobytes.
const maxFormBytes = 1 << 20

// field describes a form or query field for the decoder.
type field struct {
	label string
	// name is the field's own name, for a field no form sends (label "").
	name string
	// multiline fields may hold tabs and line breaks: free text and rules.
	multiline bool
	// trim removes the spaces around a value that is stored, and tells the
	// person; every other field is kept exactly as sent (passwords, tokens,
	// searches, names looked up, choices, and the sync rule's lists, whose
	// messages name the line).
	trim bool
}

// fields names every field Tessera's forms and links send. Person
// attributes of the profile editor are added from portal's list.
var fields = map[string]field{
	"csrf":    {label: i18n.Mark("The form's security token")},
	"next":    {label: i18n.Mark("The page to go to after signing in")},
	"notice":  {label: i18n.Mark("The notice")},
	"trimmed": {label: i18n.Mark("The list of trimmed fields")},
	"q":       {label: i18n.Mark("The search")},
	// The white pages' attribute filters: those kept (name=value), the
	// one being added, and whether the filter form is open.
	"filter":       {label: i18n.Mark("The filter")},
	"filter_attr":  {label: i18n.Mark("The attribute to filter by")},
	"filter_value": {label: i18n.Mark("The value to filter by"), trim: true},
	"filters":      {label: i18n.Mark("The filter form")},
	"offset":       {label: i18n.Mark("The page of results")},
	// A multipart upload's file (an HR file): its bytes are read by
	// fileInput, not checked as text; the field is named for messages.
	"file": {label: i18n.Mark("The file")},
	// A connected system's type (Active Directory, Entra ID).
	"type": {label: i18n.Mark("The type of system")},

	"account":   {label: i18n.Mark("The account name")},
	"password":  {label: i18n.Mark("The password")},
	"signedout": {label: i18n.Mark("The sign-out notice")},
	// OpenID Connect's callback, sent by the provider.
	"state": {label: i18n.Mark("The sign-in state")}, "code": {label: i18n.Mark("The sign-in code")}, "error": {label: i18n.Mark("The provider's error")},
	"error_description": {label: i18n.Mark("The provider's error description")}, "iss": {label: i18n.Mark("The provider")},
	"session_state": {label: i18n.Mark("The provider's session")},

	"justification": {label: i18n.Mark("Justification"), multiline: true, trim: true},
	"member":        {label: i18n.Mark("The person to add")},
	"until":         {label: i18n.Mark("The end date"), trim: true},
	"owner":         {label: i18n.Mark("The owner to add")},
	"id":            {label: i18n.Mark("The selected request")},
	"decision":      {label: i18n.Mark("The decision")},
	"reason":        {label: i18n.Mark("Reason"), multiline: true, trim: true},
	"deputy":        {label: i18n.Mark("The deputy")},
	"from":          {label: i18n.Mark("The first day"), trim: true},
	"to":            {label: i18n.Mark("The last day"), trim: true},
	"starts":        {label: i18n.Mark("The deputy period")},

	// Settings → Sign-in and recovery.
	"alt_email":  {label: i18n.Mark("Email address"), trim: true},
	"challenge":  {label: i18n.Mark("The code's reference")},
	"setup":      {label: i18n.Mark("The authenticator being added")},
	"method":     {label: i18n.Mark("The sign-in method")},
	"ceremony":   {label: i18n.Mark("The passkey request")},
	"credential": {label: i18n.Mark("The passkey's answer")},
	"question_1": {label: i18n.Mark("The first question")}, "question_2": {label: i18n.Mark("The second question")},
	"question_3": {label: i18n.Mark("The third question")},
	"answer_1":   {label: i18n.Mark("The first answer")}, "answer_2": {label: i18n.Mark("The second answer")}, "answer_3": {label: i18n.Mark("The third answer")},

	"name":           {label: i18n.Mark("Name"), trim: true},
	"description":    {label: i18n.Mark("Description"), multiline: true, trim: true},
	"enabled":        {label: i18n.Mark("Enabled")},
	"operation":      {label: i18n.Mark("The operation")},
	"requestor":      {label: i18n.Mark("The requestor")},
	"requestor_set":  {label: i18n.Mark("The requestor set")},
	"attributes":     {label: i18n.Mark("The attributes")},
	"targets":        {label: i18n.Mark("The target groups")},
	"workflow":       {label: i18n.Mark("The approval workflow")},
	"notify":         {label: i18n.Mark("Notify")},
	"rule":           {label: i18n.Mark("Rule"), multiline: true, trim: true},
	"action":         {label: i18n.Mark("The action")},
	"source":         {label: i18n.Mark("The approvers' source")},
	"approvers":      {label: i18n.Mark("Approvers"), multiline: true, trim: true},
	"approver_set":   {label: i18n.Mark("The approver set")},
	"threshold":      {label: i18n.Mark("The threshold")},
	"n":              {label: i18n.Mark("The number of approvals"), trim: true},
	"deadline":       {label: i18n.Mark("The deadline")},
	"deadline_hours": {label: i18n.Mark("The deadline in hours"), trim: true},
	"deadline_days":  {label: i18n.Mark("The deadline in business days"), trim: true},
	"calendar":       {label: i18n.Mark("The holiday calendar")},
	"reminder_hours": {label: i18n.Mark("The reminder"), trim: true},
	"escalation":     {label: i18n.Mark("Escalation"), multiline: true, trim: true},
	"outcome":        {label: i18n.Mark("The outcome")},
	"time_zone":      {label: i18n.Mark("Time zone"), trim: true},
	"language":       {label: i18n.Mark("Language")},
	"weekend":        {label: i18n.Mark("The weekend")},
	"day":            {label: i18n.Mark("The holiday's day"), trim: true},
	"holiday_name":   {label: i18n.Mark("The holiday's name"), trim: true},
	"actor":          {label: i18n.Mark("The actor filter")},
	// A group's form.
	"display_name":    {label: i18n.Mark("Display name"), trim: true},
	"group_type":      {label: i18n.Mark("The group's type")},
	"join_policy":     {label: i18n.Mark("Joining")},
	"owners":          {label: i18n.Mark("Owners"), multiline: true, trim: true},
	"expires":         {label: i18n.Mark("The group's last day"), trim: true},
	"membership_days": {label: i18n.Mark("Length of memberships"), trim: true},
	"manager":         {label: i18n.Mark("The manager"), trim: true},
	"end_date":        {label: i18n.Mark("The last day"), trim: true},
	// Access reviews.
	"item":          {label: i18n.Mark("The memberships")},
	"reviewers":     {label: i18n.Mark("The reviewers")},
	"repeat_months": {label: i18n.Mark("The repeat"), trim: true},
	"review_set":    {label: i18n.Mark("The set")},
	"set_scope":     {label: i18n.Mark("The groups of the set")},

	"hosts":              {label: i18n.Mark("Domain controllers"), multiline: true, trim: true},
	"port":               {label: i18n.Mark("Port"), trim: true},
	"tls_mode":           {label: i18n.Mark("TLS")},
	"ca_cert_pem":        {label: i18n.Mark("CA certificate"), multiline: true, trim: true},
	"bind_user":          {label: i18n.Mark("Bind account"), trim: true},
	"bind_password":      {label: i18n.Mark("Bind password")},
	"base_dn":            {label: i18n.Mark("Base DN"), trim: true},
	"ous":                {label: i18n.Mark("OUs in scope"), multiline: true, trim: true},
	"staging":            {label: i18n.Mark("Staging")},
	"deletion_threshold": {label: i18n.Mark("Deletion threshold"), trim: true},
	"delta_minutes":      {label: i18n.Mark("Delta sync interval"), trim: true},
	"folder":             {label: i18n.Mark("Watched folder"), trim: true},
	"delimiter":          {label: i18n.Mark("Delimiter")},
	"encoding":           {label: i18n.Mark("Encoding")},
	"leaver_threshold":   {label: i18n.Mark("Leaver threshold"), trim: true},
	"prehire_days":       {label: i18n.Mark("Pre-hire days"), trim: true},
	// An Entra ID system.
	"tenant_id":        {label: i18n.Mark("Tenant ID"), trim: true},
	"client_id":        {label: i18n.Mark("Client ID"), trim: true},
	"verified_domains": {label: i18n.Mark("Verified domains"), multiline: true, trim: true},
	"anchor_system_id": {label: i18n.Mark("The source anchor's system")},
	"soft_match":       {label: i18n.Mark("Soft match")},
	"write_budget":     {label: i18n.Mark("Write budget"), trim: true},
	"authority_url":    {label: i18n.Mark("Authority"), trim: true},
	"graph_url":        {label: i18n.Mark("Graph address"), trim: true},
	// Filters and sorting of My approvals and Administration → Requests.
	"status":    {label: i18n.Mark("The status")},
	"requester": {label: i18n.Mark("The requester")},
	"target":    {label: i18n.Mark("The target")},
	"policy":    {label: i18n.Mark("The policy")},
	"age":       {label: i18n.Mark("The age")},
	"group":     {label: i18n.Mark("The group")},
	"due":       {label: i18n.Mark("The due date")},
	"sort":      {label: i18n.Mark("The order")},

	"profile":           {label: i18n.Mark("The run profile")},
	"confirm_deletes":   {label: i18n.Mark("Confirm deletions")},
	"kind":              {label: i18n.Mark("The kind of change")},
	"errors":            {label: i18n.Mark("Errors only")},
	"unjoined":          {label: i18n.Mark("Unjoined only")},
	"person":            {label: i18n.Mark("The person")},
	"cs":                {label: i18n.Mark("The export")},
	"scope":             {label: i18n.Mark("Scope"), multiline: true, trim: true},
	"join_rules":        {label: i18n.Mark("Join rules"), multiline: true},
	"projection":        {label: i18n.Mark("Projection")},
	"inbound":           {label: i18n.Mark("Inbound flows"), multiline: true},
	"outbound":          {label: i18n.Mark("Outbound flows"), multiline: true},
	"provision":         {label: i18n.Mark("Provisioning")},
	"dn_template":       {label: i18n.Mark("DN template"), trim: true},
	"initial_password":  {label: i18n.Mark("Initial password")},
	"enable_on_create":  {label: i18n.Mark("Enable on creation")},
	"deprovision":       {label: i18n.Mark("Deprovisioning")},
	"deprovision_ou":    {label: i18n.Mark("OU for disabled accounts"), trim: true},
	"delete_after_days": {label: i18n.Mark("Days before deletion"), trim: true},

	// Passwords: never trimmed, a space is a character like any other.
	"current_password":        {label: i18n.Mark("The current password")},
	"new_password":            {label: i18n.Mark("The new password")},
	"confirm_password":        {label: i18n.Mark("The new password again")},
	"saved":                   {label: i18n.Mark("The saved notice")},
	"min_length":              {label: i18n.Mark("Minimum length"), trim: true},
	"max_length":              {label: i18n.Mark("Maximum length"), trim: true},
	"banned_words":            {label: i18n.Mark("Banned words"), multiline: true},
	"gates_required":          {label: i18n.Mark("Methods required")},
	"email_codes":             {label: i18n.Mark("Emailed codes")},
	"authenticator_apps":      {label: i18n.Mark("Authenticator apps")},
	"security_questions":      {label: i18n.Mark("Security questions")},
	"unlock_only":             {label: i18n.Mark("Unlock only")},
	"helpdesk_acts_on_staff":  {label: i18n.Mark("Helpdesk acts on staff")},
	"reconfirm_days":          {label: i18n.Mark("Re-confirmation interval"), trim: true},
	"lockout_attempts":        {label: i18n.Mark("Wrong codes allowed"), trim: true},
	"lockout_minutes":         {label: i18n.Mark("Lockout minutes"), trim: true},
	"reset_mails_per_person":  {label: i18n.Mark("Reset codes mailed per person"), trim: true},
	"reset_mails_per_address": {label: i18n.Mark("Reset codes mailed per address"), trim: true},
	"expiry_reminder_days":    {label: i18n.Mark("Expiry reminder days"), trim: true},

	// Administration → Schema: an extra person attribute.
	"label":      {label: i18n.Mark("Label"), trim: true},
	"attr_type":  {label: i18n.Mark("The attribute's type")},
	"max_len":    {label: i18n.Mark("Longest value"), trim: true},
	"min":        {label: i18n.Mark("Smallest value"), trim: true},
	"max":        {label: i18n.Mark("Largest value"), trim: true},
	"visibility": {label: i18n.Mark("Who sees it")},
	"editable":   {label: i18n.Mark("People may ask to change it")},
}

// fieldOf describes the field called name; a field no form sends is kept
// as sent and named as it is.
func fieldOf(name string) field {
	if f, ok := fields[name]; ok {
		return f
	}
	// Person attributes: the profile form's, and those of a person an
	// administrator creates.
	if a, ok := portal.CoreSchema().Lookup(name); ok {
		return field{label: a.Label, trim: true}
	}
	return field{name: name}
}

// labelText is the field's label as a part of a message, in the reader's
// language.
func (f field) labelText() any {
	if f.label == "" {
		return portal.Textf("The field “%s”", f.name)
	}
	return portal.LabelOf(f.label)
}

// formInput is a request's query and form, as readInput checked them.
type formInput struct {
	values url.Values
	// files are the files of a multipart form, by field: their bytes are
	// not text yet (an HR file may be Latin-1), and what reads them
	// checks them as it decodes them.
	files map[string]inputFile
	// body is a SCIM request's JSON body, read whole; what reads it
	// checks it as it decodes it.
	body []byte
	// trimmed names the fields whose spaces at either end were removed.
	trimmed []string
}

type inputKey struct{}

// inputFile is a file sent in a form.
type inputFile struct {
	name    string // as the browser sent it, checked as text
	content []byte
}

// fileInput returns the file sent in r's form field name, with its name.
func fileInput(r *http.Request, name string) (content []byte, filename string, ok bool) {
	if in, ok := r.Context().Value(inputKey{}).(*formInput); ok {
		if f, ok := in.files[name]; ok {
			return f.content, f.name, true
		}
	}
	return nil, "", false
}

// jsonBody returns the SCIM request body r carried as application/scim+json;
// ok is false when it carried none of that type.
func jsonBody(r *http.Request) (body []byte, ok bool) {
	if in, found := r.Context().Value(inputKey{}).(*formInput); found && in.body != nil {
		return in.body, true
	}
	return nil, false
}

// scimPath reports whether a path is the SCIM endpoint's, whose body is
// JSON rather than a form.
func scimPath(path string) bool { return strings.HasPrefix(path, "/scim/") }

// isSCIMJSON reports whether a Content-Type is SCIM's media type.
func isSCIMJSON(contentType string) bool {
	mt, _, err := mime.ParseMediaType(contentType)
	return err == nil && mt == "application/scim+json"
}

// maxUploadBytes bounds a multipart form: the largest file is an HR file.
const maxUploadBytes = 64<<20 + 64<<10

// uploadPath reports whether a path takes a file: only these take a
// multipart form, and a body larger than a form's.
func uploadPath(path string) bool {
	return strings.HasPrefix(path, "/admin/hr/") && strings.HasSuffix(path, "/upload")
}

// unreadBody reports whether r carries a body that no one would read: a
// form sent otherwise than URL-encoded (a multipart form outside an upload,
// text/plain, JSON outside SCIM). ParseForm skips such a body, and the
// handler then ran as if every field had been left out; mt is its type.
func unreadBody(r *http.Request, multipart bool) (mt string, unread bool) {
	if r.Method != http.MethodPost && r.Method != http.MethodPut && r.Method != http.MethodPatch || r.ContentLength == 0 || r.Body == nil || r.Body == http.NoBody || multipart || scimPath(r.URL.Path) {
		return "", false
	}
	ct := r.Header.Get("Content-Type")
	mt, _, err := mime.ParseMediaType(ct)
	if err == nil && mt == "application/x-www-form-urlencoded" {
		return "", false
	}
	if ct == "" {
		return "?", true
	}
	if err != nil || !utf8.ValidString(mt) || strings.IndexFunc(mt, unicode.IsControl) >= 0 {
		mt = "?"
	}
	return mt, true
}

// input returns r's checked query and form values (posted values first).
func input(r *http.Request) url.Values {
	if in, ok := r.Context().Value(inputKey{}).(*formInput); ok {
		return in.values
	}
	return url.Values{}
}

// badInput is why a request's bytes were refused, and the status to
// answer with.
type badInput struct {
	status int
	msg    portal.Text
}

func (e *badInput) Error() string { return e.msg.String() }

// readInput decodes and checks the request's input before anything reads
// it (the CSRF check included, so an oversized form is told so, not that
// it expired), and refuses the request when a value is not acceptable.
func (s *Server) readInput(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		in, err := decodeInput(w, r)
		if err != nil {
			var bad *badInput
			if !errors.As(err, &bad) {
				s.Error(w, r, err)
				return
			}
			if bad.status == http.StatusRequestEntityTooLarge {
				// The rest of the body is not read: do not keep the
				// connection for a next request behind it.
				w.Header().Set("Connection", "close")
			}
			s.renderError(w, r, bad.status, tr(r, "That could not be sent"), i18n.FromContext(r.Context()).Text(bad.msg))
			return
		}
		r.Form, r.PostForm = in.values, in.values
		r = r.WithContext(context.WithValue(r.Context(), inputKey{}, in))
		if len(in.trimmed) > 0 {
			w = &trimmedRedirects{ResponseWriter: w, trimmed: in.trimmed}
		}
		next.ServeHTTP(w, r)
	})
}

// decodeInput reads and checks the path, the query and a URL-encoded body.
func decodeInput(w http.ResponseWriter, r *http.Request) (*formInput, error) {
	if msg, bad := badText(r.URL.Path, portal.LabelOf(i18n.Mark("The address")), false); bad {
		return nil, &badInput{http.StatusBadRequest, msg}
	}
	limit := int64(maxFormBytes)
	multipart := uploadPath(r.URL.Path) && strings.HasPrefix(strings.ToLower(r.Header.Get("Content-Type")), "multipart/form-data")
	if multipart {
		limit = maxUploadBytes
	}
	if mt, bad := unreadBody(r, multipart); bad {
		return nil, &badInput{http.StatusUnsupportedMediaType,
			portal.Textf("Tessera reads a form only as a browser sends it; this one was sent as %s.", mt)}
	}
	if r.Body != nil {
		r.Body = http.MaxBytesReader(w, r.Body, limit)
	}
	var err error
	var body []byte
	switch {
	case multipart:
		err = r.ParseMultipartForm(maxFormBytes)
	case scimPath(r.URL.Path) && r.Method == http.MethodPost && isSCIMJSON(r.Header.Get("Content-Type")) && r.Body != nil:
		if body, err = io.ReadAll(r.Body); err == nil {
			err = r.ParseForm() // the query alone: the body is not a form
		}
		if body == nil {
			body = []byte{}
		}
	default:
		err = r.ParseForm()
	}
	if err != nil {
		if tooLarge := new(http.MaxBytesError); errors.As(err, &tooLarge) {
			return nil, &badInput{http.StatusRequestEntityTooLarge,
				portal.Textf("What you sent is larger than Tessera accepts (%d kB). Shorten the longest field and send it again.", limit>>10)}
		}
		return nil, &badInput{http.StatusBadRequest, portal.Textf("The form or the address could not be read: it is not encoded as a browser encodes it.")}
	}
	in := &formInput{values: make(url.Values, len(r.Form)), body: body}
	if multipart && r.MultipartForm != nil {
		in.files = map[string]inputFile{}
		for name, fhs := range r.MultipartForm.File {
			if len(fhs) == 0 {
				continue
			}
			if msg, bad := badText(name, portal.LabelOf(i18n.Mark("A field's name")), false); bad {
				return nil, &badInput{http.StatusBadRequest, msg}
			}
			if msg, bad := badText(fhs[0].Filename, portal.LabelOf(i18n.Mark("The file's name")), false); bad {
				return nil, &badInput{http.StatusBadRequest, msg}
			}
			f, err := fhs[0].Open()
			if err != nil {
				return nil, &badInput{http.StatusBadRequest, portal.Textf("The file could not be read.")}
			}
			content, err := io.ReadAll(f)
			f.Close()
			if err != nil {
				return nil, &badInput{http.StatusBadRequest, portal.Textf("The file could not be read.")}
			}
			in.files[name] = inputFile{name: fhs[0].Filename, content: content}
		}
		// The parts wait on disk no longer than the request.
		if err := r.MultipartForm.RemoveAll(); err != nil {
			slog.Warn("temporary files of an upload not removed", "error", err)
		}
	}
	for name, vs := range r.Form {
		if msg, bad := badText(name, portal.LabelOf(i18n.Mark("A field's name")), false); bad {
			return nil, &badInput{http.StatusBadRequest, msg}
		}
		f := fieldOf(name)
		out := make([]string, len(vs))
		for i, v := range vs {
			if msg, bad := badText(v, f.labelText(), f.multiline); bad {
				return nil, &badInput{http.StatusBadRequest, msg}
			}
			if f.trim {
				if t := strings.TrimSpace(v); t != v {
					v = t
					if !slices.Contains(in.trimmed, name) {
						in.trimmed = append(in.trimmed, name)
					}
				}
			}
			out[i] = v
		}
		in.values[name] = out
	}
	slices.Sort(in.trimmed)
	return in, nil
}

// badText says what is wrong with s as the value of the field labelled
// label (a portal.Label or portal.Text), and whether anything is. PostgreSQL refuses NUL and bytes that are
// not UTF-8; other control characters are invisible and change what a
// person reads, so none is accepted; tabs and line breaks only where a
// field has several lines.
func badText(s string, label any, multiline bool) (portal.Text, bool) {
	if !utf8.ValidString(s) {
		return portal.Textf("%s holds bytes that are not text (not UTF-8). Type it again rather than pasting it.", label), true
	}
	for _, c := range s {
		switch {
		case (c == '\t' || c == '\n' || c == '\r') && multiline:
		case c == '\t' || c == '\n' || c == '\r':
			return portal.Textf("%s must be one line, without tabs or line breaks.", label), true
		case c == 0:
			return portal.Textf("%s holds a NUL character, which is not allowed.", label), true
		case unicode.IsControl(c):
			return portal.Textf("%s holds a control character (U+%04X), which is not allowed.", label, int(c)), true
		}
	}
	return portal.Text{}, false
}

// trimmedRedirects tells the page a form redirects to which fields lost
// spaces at either end, so that page can say so.
type trimmedRedirects struct {
	http.ResponseWriter
	trimmed []string
}

func (t *trimmedRedirects) WriteHeader(status int) {
	if loc := t.Header().Get("Location"); status >= 300 && status < 400 && strings.HasPrefix(loc, "/") && !strings.HasPrefix(loc, "//") {
		if u, err := url.Parse(loc); err == nil {
			q := u.Query()
			q.Set("trimmed", strings.Join(t.trimmed, ","))
			u.RawQuery = q.Encode()
			t.Header().Set("Location", u.String())
		}
	}
	t.ResponseWriter.WriteHeader(status)
}

// Unwrap gives http.ResponseController the writer underneath.
func (t *trimmedRedirects) Unwrap() http.ResponseWriter { return t.ResponseWriter }

// trimmedNotice says which fields of the form just sent, or of the one
// that redirected here, were stored without the spaces at either end.
func trimmedNotice(r *http.Request) string {
	var names []string
	if in, ok := r.Context().Value(inputKey{}).(*formInput); ok {
		names = in.trimmed
		if len(names) == 0 && r.Method == http.MethodGet {
			names = strings.Split(in.values.Get("trimmed"), ",")
		}
	}
	p := i18n.FromContext(r.Context())
	var labels []string
	for _, n := range names {
		if f := fieldOf(n); f.trim && !slices.Contains(labels, f.label) {
			labels = append(labels, f.label)
		}
	}
	if len(labels) == 0 {
		return ""
	}
	for i, l := range labels {
		labels[i] = p.Name(l)
		if rest, ok := strings.CutPrefix(labels[i], "The "); ok && p.Code() == "en" {
			labels[i] = "the " + rest
		}
	}
	list := labels[len(labels)-1]
	if len(labels) > 1 {
		list = p.T("%s and %s", strings.Join(labels[:len(labels)-1], ", "), list)
	}
	return p.T("The spaces at the start or end of %s were removed.", list)
}
