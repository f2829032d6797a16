package i18n

// germanAdmin is the German text of the administration pages (connected
// systems, sync rules, schema, HR, people, roles, rules and policies).
var germanAdmin = map[string]string{}
