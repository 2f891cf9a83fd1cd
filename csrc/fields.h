/*
 * fields.h: every message field, once. Included as an X-macro by mpns.h (ids)
 * and fields.c (the table). The order of the rows is the order of the XML
 * elements: one order fits every kind (see ../shared/mpns-protocol.md).
 *
 * kinds:    KT toast, KP plain tile, KF flip, KI iconic, KC cycle, KR raw,
 *           KB callback registration, KPUSH every kind but KB
 * first OS: the oldest OS that shows the field; older devices lose it
 * check:    how the value is validated (MPNS_CHECK_*)
 * fallback: where a WP8-only field goes when the tile becomes a 7.x tile
 */
/*         id                       Lua name                      XML element               kinds           OS    check   fallback */
MPNS_FIELD(TEXT1,                   "text1",                      "Text1",                  KT,             OS70, TEXT,   NONE)
MPNS_FIELD(TEXT2,                   "text2",                      "Text2",                  KT,             OS70, TEXT,   NONE)
MPNS_FIELD(PARAM,                   "param",                      "Param",                  KT,             OS71, TEXT,   NONE)
MPNS_FIELD(SOUND,                   "sound",                      "Sound",                  KT,             OS80, TEXT,   NONE)
MPNS_FIELD(SILENT,                  "silent",                     NULL,                     KT,             OS80, BOOL,   NONE)
MPNS_FIELD(ID,                      "id",                         NULL,                     KP|KF|KI|KC,    OS71, NAV,    NONE)
MPNS_FIELD(SMALL_BACKGROUND_IMAGE,  "small_background_image",     "SmallBackgroundImage",   KF|KC,          OS80, TEXT,   NONE)
MPNS_FIELD(WIDE_BACKGROUND_IMAGE,   "wide_background_image",      "WideBackgroundImage",    KF,             OS80, TEXT,   NONE)
MPNS_FIELD(WIDE_BACK_BACKGROUND_IMAGE, "wide_back_background_image", "WideBackBackgroundImage", KF,         OS80, TEXT,   NONE)
MPNS_FIELD(WIDE_BACK_CONTENT,       "wide_back_content",          "WideBackContent",        KF,             OS80, TEXT,   NONE)
MPNS_FIELD(CYCLE_IMAGE1,            NULL,                         "CycleImage1",            KC,             OS80, LOCAL,  BACKGROUND_IMAGE)
MPNS_FIELD(CYCLE_IMAGE2,            NULL,                         "CycleImage2",            KC,             OS80, LOCAL,  NONE)
MPNS_FIELD(CYCLE_IMAGE3,            NULL,                         "CycleImage3",            KC,             OS80, LOCAL,  NONE)
MPNS_FIELD(CYCLE_IMAGE4,            NULL,                         "CycleImage4",            KC,             OS80, LOCAL,  NONE)
MPNS_FIELD(CYCLE_IMAGE5,            NULL,                         "CycleImage5",            KC,             OS80, LOCAL,  NONE)
MPNS_FIELD(CYCLE_IMAGE6,            NULL,                         "CycleImage6",            KC,             OS80, LOCAL,  NONE)
MPNS_FIELD(CYCLE_IMAGE7,            NULL,                         "CycleImage7",            KC,             OS80, LOCAL,  NONE)
MPNS_FIELD(CYCLE_IMAGE8,            NULL,                         "CycleImage8",            KC,             OS80, LOCAL,  NONE)
MPNS_FIELD(CYCLE_IMAGE9,            NULL,                         "CycleImage9",            KC,             OS80, LOCAL,  NONE)
MPNS_FIELD(SMALL_ICON_IMAGE,        "small_icon_image",           "SmallIconImage",         KI,             OS80, TEXT,   NONE)
MPNS_FIELD(ICON_IMAGE,              "icon_image",                 "IconImage",              KI,             OS80, TEXT,   BACKGROUND_IMAGE)
MPNS_FIELD(WIDE_CONTENT1,           "wide_content1",              "WideContent1",           KI,             OS80, TEXT,   NONE)
MPNS_FIELD(WIDE_CONTENT2,           "wide_content2",              "WideContent2",           KI,             OS80, TEXT,   NONE)
MPNS_FIELD(WIDE_CONTENT3,           "wide_content3",              "WideContent3",           KI,             OS80, TEXT,   NONE)
MPNS_FIELD(BACKGROUND_IMAGE,        "background_image",           "BackgroundImage",        KP|KF,          OS70, TEXT,   NONE)
MPNS_FIELD(COUNT,                   "count",                      "Count",                  KP|KF|KI|KC,    OS70, COUNT,  NONE)
MPNS_FIELD(TITLE,                   "title",                      "Title",                  KP|KF|KI|KC,    OS70, TEXT,   NONE)
MPNS_FIELD(BACK_BACKGROUND_IMAGE,   "back_background_image",      "BackBackgroundImage",    KP|KF,          OS71, TEXT,   NONE)
MPNS_FIELD(BACK_TITLE,              "back_title",                 "BackTitle",              KP|KF,          OS71, TEXT,   NONE)
MPNS_FIELD(BACK_CONTENT,            "back_content",               "BackContent",            KP|KF,          OS71, TEXT,   NONE)
MPNS_FIELD(BACKGROUND_COLOR,        "background_color",           "BackgroundColor",        KI,             OS80, COLOR,  NONE)
MPNS_FIELD(DATA,                    "data",                       NULL,                     KR|KB,          OS70, BYTES,  NONE)
MPNS_FIELD(CALLBACK_URI,            "uri",                        NULL,                     KB,             OS70, HEADER, NONE)
MPNS_FIELD(CONTENT_TYPE,            "content_type",               NULL,                     KR,             OS70, HEADER, NONE)
MPNS_FIELD(DELAY,                   "delay",                      NULL,                     KPUSH,          OS70, DELAY,  NONE)
MPNS_FIELD(MESSAGE_ID,              "message_id",                 NULL,                     KALL,           OS70, UUID,   NONE)
