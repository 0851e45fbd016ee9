// postdesk: compose.js
"use strict";
