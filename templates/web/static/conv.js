// postdesk: conv.js
"use strict";
