package livechat

// CapFromFileLimit is exported for the tests of the default websocket cap.
var CapFromFileLimit = capFromFileLimit
