// postdesk: live.js
"use strict";
