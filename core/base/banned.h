/*
 * Functions dsync never calls: unbounded copies and formats, and strtok's
 * hidden state.  Included before every library source (see CMakeLists.txt);
 * use snprintf, memcpy with a checked length, or the buffer type instead.
 */
#ifndef DSYNC_BANNED_H
#define DSYNC_BANNED_H

#define BANNED(func) sorry_##func##_is_banned_in_dsync

#undef strcpy
#define strcpy(x, y) BANNED(strcpy)
#undef strcat
#define strcat(x, y) BANNED(strcat)
#undef sprintf
#define sprintf(...) BANNED(sprintf)
#undef vsprintf
#define vsprintf(...) BANNED(vsprintf)
#undef strtok
#define strtok(x, y) BANNED(strtok)
#undef gets
#define gets(x) BANNED(gets)

#endif
