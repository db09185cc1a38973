/* kube.time and kube.cron. Times are Unix seconds. */
#include <lauxlib.h>
#include <lua.h>
#include <math.h>
#include <string.h>

#include "kubelua/cron.h"
#include "kubelua/ktime.h"

#include "script/l_primitives_int.h"

#define ZONE_MT "kubelua.Zone"
#define CRON_MT "kubelua.Cron"

typedef struct zonebox {
    const kl_tz_t *tz; /* cached for the life of the process */
} zonebox_t;

static void push_zone(lua_State *L, const kl_tz_t *tz)
{
    zonebox_t *z = lua_newuserdatauv(L, sizeof(*z), 0);
    z->tz = tz;
    luaL_setmetatable(L, ZONE_MT);
}

/* [-0, +0, e] A zone argument: a Zone, a zone name, or nil (def). Unknown names raise. */
static const kl_tz_t *opt_zone(lua_State *L, int idx, const kl_tz_t *def)
{
    if (lua_isnoneornil(L, idx))
        return def;
    zonebox_t *z = luaL_testudata(L, idx, ZONE_MT);
    if (z)
        return z->tz;
    if (lua_type(L, idx) != LUA_TSTRING)
        luaL_typeerror(L, idx, "kube.Zone or zone name");
    const kl_tz_t *tz;
    kl_errinfo_t err;
    if (kl_tz_load(lua_tostring(L, idx), &tz, &err) < 0)
        luaL_argerror(L, idx, err.msg);
    return tz;
}

/* kube.time.now() -> seconds (float, millisecond resolution)   [-0, +1, -] */
static int l_time_now(lua_State *L)
{
    lua_pushnumber(L, (lua_Number)kl_time_now_ms() / 1000.0);
    return 1;
}

/* kube.time.now_ms() -> integer milliseconds   [-0, +1, -] */
static int l_time_now_ms(lua_State *L)
{
    lua_pushinteger(L, (lua_Integer)kl_time_now_ms());
    return 1;
}

/* kube.time.parse(s) -> seconds | nil, err: an integer, or a float when s has a fraction.
 * [-1, +1|2, m] */
static int l_time_parse(lua_State *L)
{
    const char *s = luaL_checkstring(L, 1);
    int64_t sec;
    int32_t nsec;
    if (kl_time_parse_rfc3339(s, &sec, &nsec) < 0) {
        luaL_pushfail(L);
        lua_pushfstring(L, "invalid RFC 3339 time: \"%s\"", s);
        return 2;
    }
    if (nsec == 0)
        lua_pushinteger(L, (lua_Integer)sec);
    else
        lua_pushnumber(L, (lua_Number)sec + (lua_Number)nsec / 1e9);
    return 1;
}

/* kube.time.format(t [, tz]) -> "2024-05-14T09:21:37Z" (or with the zone's offset)
 * [-2, +1, e] */
static int l_time_format(lua_State *L)
{
    int64_t t = kl__lua_opt_seconds(L, 1, 0);
    luaL_checkany(L, 1);
    char out[40];
    if (lua_isnoneornil(L, 2))
        kl_time_format_rfc3339(t, out);
    else
        kl_time_format_rfc3339_in(t, opt_zone(L, 2, NULL), out);
    lua_pushstring(L, out);
    return 1;
}

/* kube.time.format_micro(t) -> "2024-05-14T09:21:37.123456Z"   [-1, +1, e] */
static int l_time_format_micro(lua_State *L)
{
    lua_Number n = luaL_checknumber(L, 1);
    if (!(n >= -9.2e18 && n <= 9.2e18))
        return luaL_argerror(L, 1, "time out of range");
    lua_Number fl = floor(n);
    int64_t sec = (int64_t)fl;
    int32_t usec = (int32_t)floor((n - fl) * 1e6 + 0.5);
    if (usec >= 1000000) {
        sec++;
        usec -= 1000000;
    }
    char out[40];
    kl_time_format_rfc3339_micro(sec, usec, out);
    lua_pushstring(L, out);
    return 1;
}

/* kube.time.zone(name) -> Zone | nil, err   [-1, +1|2, m] */
static int l_time_zone(lua_State *L)
{
    const char *name = luaL_checkstring(L, 1);
    const kl_tz_t *tz;
    kl_errinfo_t err;
    if (kl_tz_load(name, &tz, &err) < 0) {
        luaL_pushfail(L);
        lua_pushstring(L, err.msg);
        return 2;
    }
    push_zone(L, tz);
    return 1;
}

/* kube.time.parse_duration(s) -> seconds (float) | nil, err   [-1, +1|2, m] */
static int l_time_parse_duration(lua_State *L)
{
    const char *s = luaL_checkstring(L, 1);
    int64_t ns;
    kl_errinfo_t err;
    if (kl_time_parse_duration(s, &ns, &err) < 0) {
        luaL_pushfail(L);
        lua_pushstring(L, err.msg);
        return 2;
    }
    if (ns % 1000000000 == 0)
        lua_pushinteger(L, (lua_Integer)(ns / 1000000000));
    else
        lua_pushnumber(L, (lua_Number)ns / 1e9);
    return 1;
}

/* kube.time.human_duration(seconds) -> "5m30s"   [-1, +1, e] */
static int l_time_human_duration(lua_State *L)
{
    char out[32];
    kl_time_human_duration(kl__lua_opt_seconds(L, 1, 0), out, sizeof(out));
    lua_pushstring(L, out);
    return 1;
}

static void push_civil(lua_State *L, const kl_civil_t *c)
{
    lua_createtable(L, 0, 8);
    const struct {
        const char *k;
        int v;
    } f[] = {{"year", c->year},       {"month", c->month},   {"day", c->day},
             {"hour", c->hour},       {"minute", c->minute}, {"second", c->second},
             {"weekday", c->weekday}, {"offset", c->offset}};
    for (size_t i = 0; i < sizeof(f) / sizeof(f[0]); i++) {
        lua_pushinteger(L, f[i].v);
        lua_setfield(L, -2, f[i].k);
    }
}

/* kube.time.civil(t [, tz]) -> {year, month, day, hour, minute, second, weekday, offset}
 * [-2, +1, e] */
static int l_time_civil(lua_State *L)
{
    luaL_checkany(L, 1);
    int64_t t = kl__lua_opt_seconds(L, 1, 0);
    kl_civil_t c;
    kl_tz_civil(opt_zone(L, 2, NULL), t, &c);
    push_civil(L, &c);
    return 1;
}

static int field_int(lua_State *L, int t, const char *k, int def)
{
    int type = lua_getfield(L, t, k);
    lua_Integer v = def;
    if (type != LUA_TNIL) {
        int ok;
        v = lua_tointegerx(L, -1, &ok);
        if (!ok || v < -1000000000 || v > 1000000000)
            luaL_error(L, "kube.time.from_civil: field '%s' must be an integer", k);
    }
    lua_pop(L, 1);
    return (int)v;
}

/* kube.time.from_civil({year, month, day, hour, minute, second} [, tz]) -> seconds
 * [-2, +1, e] */
static int l_time_from_civil(lua_State *L)
{
    luaL_checktype(L, 1, LUA_TTABLE);
    const kl_tz_t *tz = opt_zone(L, 2, NULL);
    int y = field_int(L, 1, "year", 1970), mo = field_int(L, 1, "month", 1),
        d = field_int(L, 1, "day", 1), h = field_int(L, 1, "hour", 0),
        mi = field_int(L, 1, "minute", 0), s = field_int(L, 1, "second", 0);
    lua_pushinteger(L, (lua_Integer)kl_tz_from_civil(tz, y, mo, d, h, mi, s));
    return 1;
}

static const kl_tz_t *check_zone(lua_State *L, int idx)
{
    zonebox_t *z = luaL_checkudata(L, idx, ZONE_MT);
    return z->tz;
}

static int l_zone_name(lua_State *L)
{
    lua_pushstring(L, kl_tz_name(check_zone(L, 1)));
    return 1;
}

/* zone:offset(t) -> seconds east of UTC   [-2, +1, e] */
static int l_zone_offset(lua_State *L)
{
    const kl_tz_t *tz = check_zone(L, 1);
    lua_pushinteger(L, kl_tz_offset(tz, kl__lua_opt_seconds(L, 2, kl_time_now())));
    return 1;
}

static int l_zone_civil(lua_State *L)
{
    const kl_tz_t *tz = check_zone(L, 1);
    kl_civil_t c;
    kl_tz_civil(tz, kl__lua_opt_seconds(L, 2, kl_time_now()), &c);
    push_civil(L, &c);
    return 1;
}

static int l_zone_tostring(lua_State *L)
{
    lua_pushfstring(L, "kube.Zone(%s)", kl_tz_name(check_zone(L, 1)));
    return 1;
}

/* ---- kube.cron ---------------------------------------------------------------------------- */

typedef struct cronbox {
    kl_cron_t *c;
} cronbox_t;

static int cron_gc(lua_State *L)
{
    cronbox_t *b = lua_touserdata(L, 1);
    kl_cron_free(b->c);
    b->c = NULL;
    return 0;
}

static kl_cron_t *check_cron(lua_State *L, int idx)
{
    cronbox_t *b = luaL_checkudata(L, idx, CRON_MT);
    return b->c;
}

/* kube.cron.parse(spec) -> Cron | nil, err   [-1, +1|2, m] */
static int l_cron_parse(lua_State *L)
{
    const char *spec = luaL_checkstring(L, 1);
    cronbox_t *b = lua_newuserdatauv(L, sizeof(*b), 1);
    b->c = NULL;
    luaL_setmetatable(L, CRON_MT);
    kl_errinfo_t err;
    int rc = kl_cron_parse(spec, &b->c, &err);
    if (rc == KL_ENOMEM)
        return luaL_error(L, "out of memory");
    if (rc < 0) {
        luaL_pushfail(L);
        lua_pushstring(L, err.msg);
        return 2;
    }
    lua_pushvalue(L, 1);
    lua_setiuservalue(L, -2, 1); /* the spec, for tostring */
    return 1;
}

/* cron:next(t [, tz]) -> seconds | nil (none within five years)   [-3, +1, e] */
static int l_cron_next(lua_State *L)
{
    kl_cron_t *c = check_cron(L, 1);
    luaL_checkany(L, 2);
    int64_t t = kl__lua_opt_seconds(L, 2, 0);
    int64_t next = kl_cron_next(c, opt_zone(L, 3, NULL), t);
    if (next == 0)
        lua_pushnil(L);
    else
        lua_pushinteger(L, (lua_Integer)next);
    return 1;
}

/* cron:most_recent(earliest, now [, tz]) -> {latest = t | nil, missed = n} | nil, err
 * [-4, +1|2, e] */
static int l_cron_most_recent(lua_State *L)
{
    kl_cron_t *c = check_cron(L, 1);
    luaL_checkany(L, 2);
    luaL_checkany(L, 3);
    int64_t earliest = kl__lua_opt_seconds(L, 2, 0), now = kl__lua_opt_seconds(L, 3, 0);
    kl_cron_recent_t r;
    kl_errinfo_t err;
    if (kl_cron_most_recent(c, opt_zone(L, 4, NULL), earliest, now, &r, &err) < 0) {
        luaL_pushfail(L);
        lua_pushstring(L, err.msg);
        return 2;
    }
    lua_createtable(L, 0, 2);
    if (r.latest != 0) {
        lua_pushinteger(L, (lua_Integer)r.latest);
        lua_setfield(L, -2, "latest");
    }
    lua_pushinteger(L, (lua_Integer)r.missed);
    lua_setfield(L, -2, "missed");
    return 1;
}

/* cron:tz() -> zone name of a TZ= prefix | nil   [-1, +1, m] */
static int l_cron_tz(lua_State *L)
{
    const char *tz = kl_cron_tz_name(check_cron(L, 1));
    if (tz)
        lua_pushstring(L, tz);
    else
        lua_pushnil(L);
    return 1;
}

static int l_cron_tostring(lua_State *L)
{
    check_cron(L, 1);
    lua_getiuservalue(L, 1, 1);
    lua_pushfstring(L, "kube.Cron(%s)", lua_tostring(L, -1));
    return 1;
}

static void new_class(lua_State *L, const char *name, const luaL_Reg *methods, lua_CFunction gc,
                      lua_CFunction tostring)
{
    if (!luaL_newmetatable(L, name)) {
        lua_pop(L, 1);
        return;
    }
    lua_newtable(L);
    luaL_setfuncs(L, methods, 0);
    lua_setfield(L, -2, "__index");
    if (gc) {
        lua_pushcfunction(L, gc);
        lua_setfield(L, -2, "__gc");
    }
    lua_pushcfunction(L, tostring);
    lua_setfield(L, -2, "__tostring");
    lua_pushboolean(L, 0);
    lua_setfield(L, -2, "__metatable");
    lua_pop(L, 1);
}

void kl__lua_time_register(lua_State *L)
{
    int mod = lua_gettop(L);
    static const luaL_Reg zone_methods[] = {
        {"name", l_zone_name}, {"offset", l_zone_offset}, {"civil", l_zone_civil}, {NULL, NULL}};
    new_class(L, ZONE_MT, zone_methods, NULL, l_zone_tostring);
    static const luaL_Reg cron_methods[] = {{"next", l_cron_next},
                                            {"most_recent", l_cron_most_recent},
                                            {"tz", l_cron_tz},
                                            {NULL, NULL}};
    new_class(L, CRON_MT, cron_methods, cron_gc, l_cron_tostring);

    static const luaL_Reg time_funcs[] = {{"now", l_time_now},
                                          {"now_ms", l_time_now_ms},
                                          {"parse", l_time_parse},
                                          {"format", l_time_format},
                                          {"format_micro", l_time_format_micro},
                                          {"zone", l_time_zone},
                                          {"parse_duration", l_time_parse_duration},
                                          {"human_duration", l_time_human_duration},
                                          {"civil", l_time_civil},
                                          {"from_civil", l_time_from_civil},
                                          {NULL, NULL}};
    luaL_newlib(L, time_funcs);
    push_zone(L, kl_tz_utc());
    lua_setfield(L, -2, "utc");
    lua_setfield(L, mod, "time");
    static const luaL_Reg cron_funcs[] = {{"parse", l_cron_parse}, {NULL, NULL}};
    luaL_newlib(L, cron_funcs);
    lua_setfield(L, mod, "cron");
}
