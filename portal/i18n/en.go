package i18n

// englishPlurals are the English messages whose words follow a count. Every
// other English text is its own key.
var englishPlurals = map[string]Plural{
	"%d minutes ago":               {One: "%d minute ago", Other: "%d minutes ago"},
	"%d hours ago":                 {One: "%d hour ago", Other: "%d hours ago"},
	"%d days ago":                  {One: "%d day ago", Other: "%d days ago"},
	"%d weeks ago":                 {One: "%d week ago", Other: "%d weeks ago"},
	"in %d minutes":                {One: "in %d minute", Other: "in %d minutes"},
	"in %d hours":                  {One: "in %d hour", Other: "in %d hours"},
	"in %d days":                   {One: "in %d day", Other: "in %d days"},
	"in %d weeks":                  {One: "in %d week", Other: "in %d weeks"},
	"overdue by %d minutes":        {One: "overdue by %d minute", Other: "overdue by %d minutes"},
	"overdue by %d hours":          {One: "overdue by %d hour", Other: "overdue by %d hours"},
	"overdue by %d days":           {One: "overdue by %d day", Other: "overdue by %d days"},
	"overdue by %d weeks":          {One: "overdue by %d week", Other: "overdue by %d weeks"},
	"due in %d minutes":            {One: "due in %d minute", Other: "due in %d minutes"},
	"due in %d hours":              {One: "due in %d hour", Other: "due in %d hours"},
	"due in %d days":               {One: "due in %d day", Other: "due in %d days"},
	"due in %d weeks":              {One: "due in %d week", Other: "due in %d weeks"},
	"%d approvals waiting":         {One: "%d approval waiting", Other: "%d approvals waiting"},
	"%d waiting":                   {One: "%d waiting", Other: "%d waiting"},
	"%d reports":                   {One: "%d report", Other: "%d reports"},
	"%d reports: open their chart": {One: "%d report: open their chart", Other: "%d reports: open their chart"},
	"%d members":                   {One: "%d member", Other: "%d members"},
	"%d requests":                  {One: "%d request", Other: "%d requests"},
}

// englishAdminPlurals are the plurals of the administration pages (their
// German forms are germanAdminPlurals).
var englishAdminPlurals = map[string]Plural{
	"%d owners":        {One: "%d owner", Other: "%d owners"},
	"%d hours":         {One: "%d hour", Other: "%d hours"},
	"%d business days": {One: "%d business day", Other: "%d business days"},
	"%d entries":       {One: "%d entry", Other: "%d entries"},
	"%d hours before":  {One: "%d hour before", Other: "%d hours before"},
	"%d adds":          {One: "%d add", Other: "%d adds"},
	"%d updates":       {One: "%d update", Other: "%d updates"},
	"%d renames":       {One: "%d rename", Other: "%d renames"},
	"%d moves":         {One: "%d move", Other: "%d moves"},
	"%d deletes":       {One: "%d delete", Other: "%d deletes"},
	"%d joins":         {One: "%d join", Other: "%d joins"},
	"%d people match":  {One: "%d person matches", Other: "%d people match"},
	"%d errors":        {One: "%d error", Other: "%d errors"},
	"%d policies use it; choose another workflow for them before deleting it.": {One: "%d policy uses it; choose another workflow for it before deleting it.", Other: "%d policies use it; choose another workflow for them before deleting it."},
}
