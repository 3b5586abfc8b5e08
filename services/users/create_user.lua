--[[
  Create a user unless their email is taken (one atomic step, so two sign-ups never share an email).

  Input:
    KEYS[1] emails index: hash, lowercased email -> user id
    KEYS[2] users: hash, user id -> user JSON
    ARGV[1] lowercased email
    ARGV[2] user id
    ARGV[3] user JSON

  Output:
    false (nil) when the user was created, else the id of the user who already has that email.
]]
local existing = redis.call("HGET", KEYS[1], ARGV[1])
if existing then
  return existing
end
redis.call("HSET", KEYS[1], ARGV[1], ARGV[2])
redis.call("HSET", KEYS[2], ARGV[2], ARGV[3])
return false
