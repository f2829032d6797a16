package i18n

// germanAccount is the German text of a person's own account: settings,
// sign-in and recovery methods, password reset, unlock and change, access
// reviews, group editing, and the messages of the domain (portal errors)
// and of password emails.
var germanAccount = map[string]string{}
