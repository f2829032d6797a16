package portal

import "slices"

// The audit log keeps each entry as Tessera wrote it (an action code and
// details as JSON, chained and MACed: they never change); its page shows
// them in the reader's language through these names, which are keys of
// portal/i18n's catalogue. An action, a detail or a value not named here
// is shown as it is stored.

// auditActions names each action Tessera writes into the audit log.
var auditActions = map[string]string{
	"access_review_completed":       Mark("Access review completed"),
	"access_review_decided":         Mark("Access review decision"),
	"access_review_started":         Mark("Access review started"),
	"account_unlocked_self_service": Mark("Account unlock (self-service)"),
	"approval_approved":             Mark("Approved"),
	"approval_rejected":             Mark("Rejected"),
	"attribute_added":               Mark("Attribute added"),
	"attribute_changed":             Mark("Attribute changed"),
	"attribute_removed":             Mark("Attribute removed"),
	"calendar_create":               Mark("Calendar created"),
	"calendar_update":               Mark("Calendar changed"),
	"code_check":                    Mark("One-time code checked"),
	"code_issued":                   Mark("One-time code sent"),
	"code_refused":                  Mark("One-time code refused"),
	"connected_system_create":       Mark("Connected system added"),
	"connected_system_delete":       Mark("Connected system removed"),
	"connected_system_update":       Mark("Connected system changed"),
	"deputy_removed":                Mark("Deputy removed"),
	"deputy_set":                    Mark("Deputy named"),
	"dynamic_membership_changed":    Mark("Dynamic memberships changed"),
	"group_recomputed":              Mark("Dynamic group recomputed"),
	"group_rule_cleared":            Mark("Membership rule removed"),
	"group_rule_saved":              Mark("Membership rule saved"),
	"helpdesk_disable":              Mark("Disabled by the helpdesk"),
	"helpdesk_enable":               Mark("Enabled by the helpdesk"),
	"helpdesk_password_reset":       Mark("Reset to a temporary password by the helpdesk"),
	"helpdesk_unlock":               Mark("Unlock by the helpdesk"),
	"holiday_add":                   Mark("Holiday added"),
	"holiday_remove":                Mark("Holiday removed"),
	"hr_file_confirmed":             Mark("HR file confirmed"),
	"hr_file_discarded":             Mark("HR file discarded"),
	"hr_file_received":              Mark("HR file received"),
	"hr_leaver_groups_removed":      Mark("Leaver's groups removed"),
	"hr_settings_update":            Mark("HR settings changed"),
	"method_check":                  Mark("Sign-in method checked"),
	"method_registered":             Mark("Sign-in method added"),
	"method_registration_failed":    Mark("Sign-in method not added"),
	"method_removed":                Mark("Sign-in method removed"),
	"methods_confirmed":             Mark("Sign-in methods confirmed"),
	"password_changed":              Mark("Password change"),
	"password_reset_gate_failed":    Mark("Password reset: check failed"),
	"password_reset_gate_passed":    Mark("Password reset: check passed"),
	"password_reset_locked":         Mark("Password reset: locked"),
	"password_reset_self_service":   Mark("Password reset (self-service)"),
	"password_reset_started":        Mark("Password reset started"),
	"password_settings_changed":     Mark("Password settings changed"),
	"policy_create":                 Mark("Policy created"),
	"policy_delete":                 Mark("Policy deleted"),
	"policy_disable":                Mark("Policy turned off"),
	"policy_enable":                 Mark("Policy turned on"),
	"policy_update":                 Mark("Policy changed"),
	"recovery_code_issued":          Mark("Recovery code issued"),
	"request_canceled":              Mark("Request canceled"),
	"request_committed":             Mark("Request committed"),
	"request_completed":             Mark("Request completed"),
	"request_denied":                Mark("Request rejected"),
	"request_expired":               Mark("Request expired"),
	"request_failed":                Mark("Request failed"),
	"request_retried":               Mark("Request retried"),
	"request_submitted":             Mark("Request submitted"),
	"request_superseded":            Mark("Request superseded"),
	"role_group_set":                Mark("Role group set"),
	"scim_token_create":             Mark("SCIM token created"),
	"scim_token_revoke":             Mark("SCIM token revoked"),
	"second_factor":                 Mark("Second factor passed"),
	"seed":                          Mark("Demo data loaded"),
	"set_created":                   Mark("Set created"),
	"set_updated":                   Mark("Set changed"),
	"sign_in":                       Mark("Signed in"),
	"sign_in_failed":                Mark("Sign-in failed"),
	"sign_in_refused":               Mark("Sign-in refused"),
	"sign_out":                      Mark("Signed out"),
	"sync_group_projection":         Mark("Group taken from a connected system"),
	"sync_inbound":                  Mark("Changes taken from a connected system"),
	"sync_projection":               Mark("Person taken from a connected system"),
	"sync_rule_save":                Mark("Sync rule saved"),
	"workflow_create":               Mark("Workflow created"),
	"workflow_delete":               Mark("Workflow deleted"),
	"workflow_update":               Mark("Workflow changed"),
}

// AuditActionLabel is the name of an audit action, a key of the
// catalogue; ok is false for an action Tessera does not name (shown as its
// code).
func AuditActionLabel(action string) (label string, ok bool) {
	label, ok = auditActions[action]
	return label, ok
}

// AuditActions lists the actions the audit log names, by code, for its
// filter.
func AuditActions() []string {
	codes := make([]string, 0, len(auditActions))
	for code := range auditActions {
		codes = append(codes, code)
	}
	slices.Sort(codes)
	return codes
}

// auditDetailLabels names the details audit entries keep.
var auditDetailLabels = map[string]string{
	"account":       Mark("Account"),
	"account_name":  Mark("Account name"),
	"added":         Mark("Added"),
	"address":       Mark("Address"),
	"approval":      Mark("Approval"),
	"before":        Mark("Before"),
	"changes":       Mark("Changes"),
	"class":         Mark("Object class"),
	"client":        Mark("From address"),
	"code_mailed":   Mark("Code mailed"),
	"day":           Mark("Day"),
	"deadline":      Mark("Deadline"),
	"decision":      Mark("Decision"),
	"default":       Mark("Default"),
	"deputy":        Mark("Deputy"),
	"description":   Mark("Description"),
	"detail":        Mark("Detail"),
	"dn":            Mark("DN"),
	"ended_early":   Mark("Ended early"),
	"ends":          Mark("Ends"),
	"error":         Mark("Error"),
	"expires_at":    Mark("Expires"),
	"factor":        Mark("Factor"),
	"gate":          Mark("Check"),
	"gates":         Mark("Checks"),
	"group":         Mark("Group"),
	"groups":        Mark("Groups"),
	"joined":        Mark("Joined"),
	"kind":          Mark("Kind"),
	"known_device":  Mark("Known device"),
	"left":          Mark("Left"),
	"members":       Mark("Members"),
	"memberships":   Mark("Memberships"),
	"method":        Mark("Method"),
	"name":          Mark("Name"),
	"new":           Mark("New"),
	"nothing_done":  Mark("Nothing done"),
	"ok":            Mark("Done"),
	"old":           Mark("Old"),
	"operation":     Mark("Kind"),
	"owners":        Mark("Owners"),
	"people":        Mark("People"),
	"person":        Mark("Person"),
	"previous_rule": Mark("Previous rule"),
	"purpose":       Mark("Purpose"),
	"reason":        Mark("Reason"),
	"removals":      Mark("Removals"),
	"removed":       Mark("Removed"),
	"result":        Mark("Result"),
	"role":          Mark("Role"),
	"rule":          Mark("Rule"),
	"set":           Mark("Set"),
	"set_scope":     Mark("Groups of the set"),
	"settings":      Mark("Settings"),
	"starts":        Mark("Starts"),
	"superseded_by": Mark("Superseded by"),
	"system":        Mark("System"),
	"systems":       Mark("Systems"),
	"type":          Mark("Type"),
	"unchanged":     Mark("Unchanged"),
	"upload":        Mark("Upload"),
}

// AuditDetailLabel is the name of a detail an audit entry keeps, a key of
// the catalogue, or "" for one Tessera does not name (shown as its key).
func AuditDetailLabel(key string) string { return auditDetailLabels[key] }

// auditValues names the codes audit details hold (a check's result, a
// method's kind) and the reasons Tessera writes in English.
var auditValues = map[string]string{
	"success":                   Mark("succeeded"),
	"failure":                   Mark("failed"),
	"locked":                    Mark("locked"),
	"totp":                      Mark("authenticator app"),
	"passkey":                   Mark("passkey"),
	"questions":                 Mark("security questions"),
	"password":                  Mark("password"),
	"wrong code":                Mark("wrong code"),
	"wrong code; no tries left": Mark("wrong code; no tries left"),
	"too many codes in an hour": Mark("too many codes in an hour"),
	"unknown challenge":         Mark("unknown challenge"),
	"another person's or purpose's challenge": Mark("another person's or purpose's challenge"),
	"used or replaced":                        Mark("used or replaced"),
	"expired":                                 Mark("expired"),
	"tried too often":                         Mark("tried too often"),
	"no connected system has an account joined to this person": Mark("no connected system has an account joined to this person"),
}

// AuditValueLabel is the name of a value an audit detail holds, a key of
// the catalogue, or "" for a value shown as it is (a name, an address).
func AuditValueLabel(value string) string { return auditValues[value] }
