package web

import (
	"context"
	"errors"
	"fmt"
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
	"csrf":    {label: "The form's security token"},
	"next":    {label: "The page to go to after signing in"},
	"notice":  {label: "The notice"},
	"trimmed": {label: "The list of trimmed fields"},
	"q":       {label: "The search"},
	// The white pages' attribute filters: those kept (name=value), the
	// one being added, and whether the filter form is open.
	"filter":       {label: "The filter"},
	"filter_attr":  {label: "The attribute to filter by"},
	"filter_value": {label: "The value to filter by", trim: true},
	"filters":      {label: "The filter form"},
	"offset":       {label: "The page of results"},
	// A multipart upload's file (an HR file): its bytes are read by
	// fileInput, not checked as text; the field is named for messages.
	"file": {label: "The file"},
	// A connected system's type (Active Directory, Entra ID).
	"type": {label: "The type of system"},

	"account":   {label: "The account name"},
	"password":  {label: "The password"},
	"signedout": {label: "The sign-out notice"},
	// OpenID Connect's callback, sent by the provider.
	"state": {label: "The sign-in state"}, "code": {label: "The sign-in code"}, "error": {label: "The provider's error"},
	"error_description": {label: "The provider's error description"}, "iss": {label: "The provider"},
	"session_state": {label: "The provider's session"},

	"justification": {label: "Justification", multiline: true, trim: true},
	"member":        {label: "The person to add"},
	"until":         {label: "The end date", trim: true},
	"owner":         {label: "The owner to add"},
	"id":            {label: "The selected request"},
	"decision":      {label: "The decision"},
	"reason":        {label: "Reason", multiline: true, trim: true},
	"deputy":        {label: "The deputy"},
	"from":          {label: "The first day", trim: true},
	"to":            {label: "The last day", trim: true},
	"starts":        {label: "The deputy period"},

	// Settings → Sign-in and recovery.
	"alt_email":  {label: "Email address", trim: true},
	"challenge":  {label: "The code's reference"},
	"setup":      {label: "The authenticator being added"},
	"method":     {label: "The sign-in method"},
	"ceremony":   {label: "The passkey request"},
	"credential": {label: "The passkey's answer"},
	"question_1": {label: "The first question"}, "question_2": {label: "The second question"},
	"question_3": {label: "The third question"},
	"answer_1":   {label: "The first answer"}, "answer_2": {label: "The second answer"}, "answer_3": {label: "The third answer"},

	"name":           {label: "Name", trim: true},
	"description":    {label: "Description", multiline: true, trim: true},
	"enabled":        {label: "Enabled"},
	"operation":      {label: "The operation"},
	"requestor":      {label: "The requestor"},
	"requestor_set":  {label: "The requestor set"},
	"attributes":     {label: "The attributes"},
	"targets":        {label: "The target groups"},
	"workflow":       {label: "The approval workflow"},
	"notify":         {label: "Notify"},
	"rule":           {label: "Rule", multiline: true, trim: true},
	"action":         {label: "The action"},
	"source":         {label: "The approvers' source"},
	"approvers":      {label: "Approvers", multiline: true, trim: true},
	"approver_set":   {label: "The approver set"},
	"threshold":      {label: "The threshold"},
	"n":              {label: "The number of approvals", trim: true},
	"deadline":       {label: "The deadline"},
	"deadline_hours": {label: "The deadline in hours", trim: true},
	"deadline_days":  {label: "The deadline in business days", trim: true},
	"calendar":       {label: "The holiday calendar"},
	"reminder_hours": {label: "The reminder", trim: true},
	"escalation":     {label: "Escalation", multiline: true, trim: true},
	"outcome":        {label: "The outcome"},
	"time_zone":      {label: "Time zone", trim: true},
	"language":       {label: "Language"},
	"weekend":        {label: "The weekend"},
	"day":            {label: "The holiday's day", trim: true},
	"holiday_name":   {label: "The holiday's name", trim: true},
	"actor":          {label: "The actor filter"},
	// A group's form.
	"display_name":    {label: "Display name", trim: true},
	"group_type":      {label: "The group's type"},
	"join_policy":     {label: "Joining"},
	"owners":          {label: "Owners", multiline: true, trim: true},
	"expires":         {label: "The group's last day", trim: true},
	"membership_days": {label: "Length of memberships", trim: true},
	"manager":         {label: "The manager", trim: true},
	"end_date":        {label: "The last day", trim: true},
	// Access reviews.
	"item":          {label: "The memberships"},
	"reviewers":     {label: "The reviewers"},
	"repeat_months": {label: "The repeat", trim: true},
	"review_set":    {label: "The set"},
	"set_scope":     {label: "The groups of the set"},

	"hosts":              {label: "Domain controllers", multiline: true, trim: true},
	"port":               {label: "Port", trim: true},
	"tls_mode":           {label: "TLS"},
	"ca_cert_pem":        {label: "CA certificate", multiline: true, trim: true},
	"bind_user":          {label: "Bind account", trim: true},
	"bind_password":      {label: "Bind password"},
	"base_dn":            {label: "Base DN", trim: true},
	"ous":                {label: "OUs in scope", multiline: true, trim: true},
	"staging":            {label: "Staging"},
	"deletion_threshold": {label: "Deletion threshold", trim: true},
	"delta_minutes":      {label: "Delta sync interval", trim: true},
	"folder":             {label: "Watched folder", trim: true},
	"delimiter":          {label: "Delimiter"},
	"encoding":           {label: "Encoding"},
	"leaver_threshold":   {label: "Leaver threshold", trim: true},
	"prehire_days":       {label: "Pre-hire days", trim: true},
	// An Entra ID system.
	"tenant_id":        {label: "Tenant ID", trim: true},
	"client_id":        {label: "Client ID", trim: true},
	"verified_domains": {label: "Verified domains", multiline: true, trim: true},
	"anchor_system_id": {label: "The source anchor's system"},
	"soft_match":       {label: "Soft match"},
	"write_budget":     {label: "Write budget", trim: true},
	"authority_url":    {label: "Authority", trim: true},
	"graph_url":        {label: "Graph address", trim: true},
	// Filters and sorting of My approvals and Administration → Requests.
	"status":    {label: "The status"},
	"requester": {label: "The requester"},
	"target":    {label: "The target"},
	"policy":    {label: "The policy"},
	"age":       {label: "The age"},
	"group":     {label: "The group"},
	"due":       {label: "The due date"},
	"sort":      {label: "The order"},

	"profile":           {label: "The run profile"},
	"confirm_deletes":   {label: "Confirm deletions"},
	"kind":              {label: "The kind of change"},
	"errors":            {label: "Errors only"},
	"unjoined":          {label: "Unjoined only"},
	"person":            {label: "The person"},
	"cs":                {label: "The export"},
	"scope":             {label: "Scope", multiline: true, trim: true},
	"join_rules":        {label: "Join rules", multiline: true},
	"projection":        {label: "Projection"},
	"inbound":           {label: "Inbound flows", multiline: true},
	"outbound":          {label: "Outbound flows", multiline: true},
	"provision":         {label: "Provisioning"},
	"dn_template":       {label: "DN template", trim: true},
	"initial_password":  {label: "Initial password"},
	"enable_on_create":  {label: "Enable on creation"},
	"deprovision":       {label: "Deprovisioning"},
	"deprovision_ou":    {label: "OU for disabled accounts", trim: true},
	"delete_after_days": {label: "Days before deletion", trim: true},

	// Passwords: never trimmed, a space is a character like any other.
	"current_password":        {label: "The current password"},
	"new_password":            {label: "The new password"},
	"confirm_password":        {label: "The new password again"},
	"saved":                   {label: "The saved notice"},
	"min_length":              {label: "Minimum length", trim: true},
	"max_length":              {label: "Maximum length", trim: true},
	"banned_words":            {label: "Banned words", multiline: true},
	"gates_required":          {label: "Methods required"},
	"email_codes":             {label: "Emailed codes"},
	"authenticator_apps":      {label: "Authenticator apps"},
	"security_questions":      {label: "Security questions"},
	"unlock_only":             {label: "Unlock only"},
	"helpdesk_acts_on_staff":  {label: "Helpdesk acts on staff"},
	"reconfirm_days":          {label: "Re-confirmation interval", trim: true},
	"lockout_attempts":        {label: "Wrong codes allowed", trim: true},
	"lockout_minutes":         {label: "Lockout minutes", trim: true},
	"reset_mails_per_person":  {label: "Reset codes mailed per person", trim: true},
	"reset_mails_per_address": {label: "Reset codes mailed per address", trim: true},
	"expiry_reminder_days":    {label: "Expiry reminder days", trim: true},

	// Administration → Schema: an extra person attribute.
	"label":      {label: "Label", trim: true},
	"attr_type":  {label: "The attribute's type"},
	"max_len":    {label: "Longest value", trim: true},
	"min":        {label: "Smallest value", trim: true},
	"max":        {label: "Largest value", trim: true},
	"visibility": {label: "Who sees it"},
	"editable":   {label: "People may ask to change it"},
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
	return field{label: "The field “" + name + "”"}
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
	msg    string
}

func (e *badInput) Error() string { return e.msg }

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
			s.renderError(w, r, bad.status, tr(r, "That could not be sent"), bad.msg)
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
	if msg := badText(r.URL.Path, "The address", false); msg != "" {
		return nil, &badInput{http.StatusBadRequest, msg}
	}
	limit := int64(maxFormBytes)
	multipart := uploadPath(r.URL.Path) && strings.HasPrefix(strings.ToLower(r.Header.Get("Content-Type")), "multipart/form-data")
	if multipart {
		limit = maxUploadBytes
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
				fmt.Sprintf("What you sent is larger than Tessera accepts (%d kB). Shorten the longest field and send it again.", limit>>10)}
		}
		return nil, &badInput{http.StatusBadRequest, "The form or the address could not be read: it is not encoded as a browser encodes it."}
	}
	in := &formInput{values: make(url.Values, len(r.Form)), body: body}
	if multipart && r.MultipartForm != nil {
		in.files = map[string]inputFile{}
		for name, fhs := range r.MultipartForm.File {
			if len(fhs) == 0 {
				continue
			}
			if msg := badText(name, "A field's name", false); msg != "" {
				return nil, &badInput{http.StatusBadRequest, msg}
			}
			if msg := badText(fhs[0].Filename, "The file's name", false); msg != "" {
				return nil, &badInput{http.StatusBadRequest, msg}
			}
			f, err := fhs[0].Open()
			if err != nil {
				return nil, &badInput{http.StatusBadRequest, "The file could not be read."}
			}
			content, err := io.ReadAll(f)
			f.Close()
			if err != nil {
				return nil, &badInput{http.StatusBadRequest, "The file could not be read."}
			}
			in.files[name] = inputFile{name: fhs[0].Filename, content: content}
		}
		// The parts wait on disk no longer than the request.
		if err := r.MultipartForm.RemoveAll(); err != nil {
			slog.Warn("temporary files of an upload not removed", "error", err)
		}
	}
	for name, vs := range r.Form {
		if msg := badText(name, "A field's name", false); msg != "" {
			return nil, &badInput{http.StatusBadRequest, msg}
		}
		f := fieldOf(name)
		out := make([]string, len(vs))
		for i, v := range vs {
			if msg := badText(v, f.label, f.multiline); msg != "" {
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
// label, or "" when nothing is. PostgreSQL refuses NUL and bytes that are
// not UTF-8; other control characters are invisible and change what a
// person reads, so none is accepted; tabs and line breaks only where a
// field has several lines.
func badText(s, label string, multiline bool) string {
	if !utf8.ValidString(s) {
		return label + " holds bytes that are not text (not UTF-8). Type it again rather than pasting it."
	}
	for _, c := range s {
		switch {
		case (c == '\t' || c == '\n' || c == '\r') && multiline:
		case c == '\t' || c == '\n' || c == '\r':
			return label + " must be one line, without tabs or line breaks."
		case c == 0:
			return label + " holds a NUL character, which is not allowed."
		case unicode.IsControl(c):
			return fmt.Sprintf("%s holds a control character (U+%04X), which is not allowed.", label, c)
		}
	}
	return ""
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
		if rest, ok := strings.CutPrefix(l, "The "); ok {
			labels[i] = "the " + rest
		}
	}
	list := labels[len(labels)-1]
	if len(labels) > 1 {
		list = strings.Join(labels[:len(labels)-1], ", ") + " and " + list
	}
	return "The spaces at the start or end of " + list + " were removed."
}
