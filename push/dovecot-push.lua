-- postdesk push: tells postdesk the moment a mailbox it watches has new mail,
-- so that it does not wait for IDLE (Dovecot 2.3 announces new mail to an
-- idling client only after a fixed 500 ms). For Dovecot's
-- push_notification_lua driver (Dovecot 2.3.19 and later, lib-lua with its
-- HTTP client); see docs/dovecot-push.md in postdesk for the configuration.
--
-- Settings (plugin { ... }):
--   postdesk_push_url     http(s)://postdesk.example/hooks/imap-push
--   postdesk_push_secret  the same string as postdesk's imap_push.secret
--
-- Every transaction that saves mail (LMTP/LDA delivery: MessageNew; IMAP
-- APPEND, COPY, MOVE into the folder: MessageAppend) sends one small POST
-- per folder, after the commit, with {"user": ..., "folder": ...}. The call
-- waits at most 2 s and is not retried: if postdesk is away, IDLE and its
-- poll still find the mail.

local client = dovecot.http.client {
  timeout = 2000;
  max_attempts = 1;
}

local function json_string(s)
  s = tostring(s or "")
  s = s:gsub('[%c"\\]', function(c)
    if c == '"' then return '\\"' end
    if c == '\\' then return '\\\\' end
    return string.format('\\u%04x', string.byte(c))
  end)
  return '"' .. s .. '"'
end

function dovecot_lua_notify_begin_txn(user)
  return {
    user = user.username,
    url = user:plugin_getenv("postdesk_push_url"),
    secret = user:plugin_getenv("postdesk_push_secret"),
    folders = {},
  }
end

local function saved(ctx, event)
  if event.mailbox ~= nil then
    ctx.folders[event.mailbox] = true
  end
end

function dovecot_lua_notify_event_message_new(ctx, event)
  saved(ctx, event)
end

function dovecot_lua_notify_event_message_append(ctx, event)
  saved(ctx, event)
end

function dovecot_lua_notify_end_txn(ctx, success)
  if success == false or ctx.url == nil or ctx.url == "" then
    return
  end
  for folder in pairs(ctx.folders) do
    local rq = client:request {
      url = ctx.url;
      method = "POST";
    }
    rq:add_header("Content-Type", "application/json")
    rq:add_header("Authorization", "Bearer " .. (ctx.secret or ""))
    rq:set_payload('{"user":' .. json_string(ctx.user) .. ',"folder":' .. json_string(folder) .. '}')
    local rs = rq:submit()
    local status = rs:status()
    if status ~= 204 then
      dovecot.i_warning("postdesk push: " .. ctx.url .. " answered " .. tostring(status) .. " " .. tostring(rs:reason()))
    end
  end
end
