// The pure intercom parsers (drivers/intercom: twon_api.h, akuvox_api.h, panel_event.h) against
// hand-written replies in the shapes of shared/protocols/intercom-2n.md, byte for byte.
#include <gtest/gtest.h>

#include <string>

#include "drivers/intercom/akuvox_api.h"
#include "drivers/intercom/panel_event.h"
#include "drivers/intercom/twon_api.h"

namespace lintel::intercom {
namespace {

using std::chrono::seconds;

std::string Pull(const std::string& events) {
  return R"({"success":true,"result":{"events":[)" + events + "]}}";
}

// --- envelope -----------------------------------------------------------------------------------

TEST(TwoNEnvelope, AcceptsSuccess) {
  EXPECT_TRUE(CheckTwoNEnvelope(R"({"success":true})").ok());
  EXPECT_TRUE(CheckTwoNEnvelope(R"({"success":true,"result":{"x":1}})").ok());
}

TEST(TwoNEnvelope, ErrorEnvelopeIsFailedPreconditionWithTheErrorFields) {
  TwoNError err;
  Status st = CheckTwoNEnvelope(
      R"({"success":false,"error":{"code":14,"param":"switch","description":"switch locked"}})",
      &err);
  EXPECT_EQ(st.code(), StatusCode::kFailedPrecondition);
  EXPECT_EQ(st.message(), "2N error 14 (switch): switch locked");
  EXPECT_EQ(err.code, 14);
  EXPECT_EQ(err.param, "switch");
  EXPECT_EQ(err.description, "switch locked");
}

TEST(TwoNEnvelope, RejectsMalformedEnvelopesWithReasons) {
  struct Case {
    const char* body;
    const char* reason;
  };
  for (const Case& c : {
           Case{"", "empty"},
           Case{"not json", "not valid JSON"},
           Case{"[1,2]", "not a JSON object"},
           Case{R"({"result":{}})", "no boolean \"success\""},
           Case{R"({"success":"yes"})", "no boolean \"success\""},
           Case{R"({"success":false})", "failure without an error object"},
           Case{R"({"success":false,"error":{"code":"14"}})", "error without an integer code"},
           Case{R"({"success":true)", "not valid JSON"},
       }) {
    Status st = CheckTwoNEnvelope(c.body);
    EXPECT_EQ(st.code(), StatusCode::kInvalidArgument) << c.body;
    EXPECT_NE(st.message().find(c.reason), std::string::npos) << c.body << " -> " << st.message();
  }
}

TEST(TwoNEnvelope, RejectsHugeInputBeforeParsing) {
  std::string huge =
      R"({"success":true,"result":{"pad":")" + std::string(kMaxReplyBytes, 'a') + "\"}}";
  Status st = CheckTwoNEnvelope(huge);
  EXPECT_EQ(st.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(st.message().find("over the 1048576-byte limit"), std::string::npos) << st.message();
}

TEST(TwoNEnvelope, RejectsDeepNestingBeforeParsing) {
  std::string deep =
      R"({"success":true,"result":)" + std::string(100000, '[') + std::string(100000, ']') + "}";
  Status st = CheckTwoNEnvelope(deep);
  EXPECT_EQ(st.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(st.message().find("nested deeper than 16"), std::string::npos) << st.message();
  // Brackets inside strings do not count.
  EXPECT_TRUE(
      CheckTwoNEnvelope(R"({"success":true,"result":{"s":")" + std::string(1000, '[') + "\"}}")
          .ok());
}

TEST(TwoNEnvelope, RejectsInvalidUtf8AndNulBytes) {
  std::string bad = "{\"success\":true,\"result\":{\"s\":\"\xC3\x28\"}}";
  EXPECT_EQ(CheckTwoNEnvelope(bad).code(), StatusCode::kInvalidArgument);
  std::string nul("{\"success\":true}\0garbage", 24);
  EXPECT_EQ(CheckTwoNEnvelope(nul).code(), StatusCode::kInvalidArgument);
}

TEST(TwoNEnvelope, ErrorDescriptionIsMadePrintableAndCut) {
  std::string desc = "line\nbreak\x01" + std::string(300, 'x');
  TwoNError err;
  Status st =
      CheckTwoNEnvelope(R"({"success":false,"error":{"code":12,"description":")" +
                            std::string("line\\nbreak\\u0001") + std::string(300, 'x') + "\"}}",
                        &err);
  EXPECT_EQ(st.code(), StatusCode::kFailedPrecondition);
  EXPECT_EQ(err.description.substr(0, 11), "line?break?");
  EXPECT_EQ(err.description.size(), 123u);  // 120 + "..."
}

// --- system info, subscribe ---------------------------------------------------------------------

TEST(TwoNSystemInfo, ReadsTheFields) {
  Result<SystemInfo> info = ParseSystemInfoReply(
      R"({"success":true,"result":{"variant":"2N IP Verso","serialNumber":"54-0880-2424",)"
      R"("hwVersion":"535v1","swVersion":"2.40.0.52.4","deviceName":"Lobby"}})");
  ASSERT_TRUE(info.ok()) << info.status().ToString();
  EXPECT_EQ(info->variant, "2N IP Verso");
  EXPECT_EQ(info->serial_number, "54-0880-2424");
  EXPECT_EQ(info->hw_version, "535v1");
  EXPECT_EQ(info->sw_version, "2.40.0.52.4");
  EXPECT_EQ(info->device_name, "Lobby");
  EXPECT_EQ(ParseSystemInfoReply(R"({"success":true})").status().code(),
            StatusCode::kInvalidArgument);
}

TEST(TwoNSubscribe, ReadsTheChannelId) {
  Result<uint64_t> id = ParseSubscribeReply(R"({"success":true,"result":{"id":2121013117}})");
  ASSERT_TRUE(id.ok()) << id.status().ToString();
  EXPECT_EQ(*id, 2121013117u);
  for (const char* bad :
       {R"({"success":true,"result":{}})", R"({"success":true,"result":{"id":-1}})",
        R"({"success":true,"result":{"id":"7"}})", R"({"success":true,"result":{"id":7.5}})",
        R"({"success":true})"}) {
    EXPECT_EQ(ParseSubscribeReply(bad).status().code(), StatusCode::kInvalidArgument) << bad;
  }
}

// --- pull ---------------------------------------------------------------------------------------

TEST(TwoNPull, ParsesTheFactsSheetExample) {
  Result<PullReply> r =
      ParsePullReply(Pull(R"({"id":1,"utcTime":1437987102,"upTime":8,"event":"CodeEntered",)"
                          R"("params":{"code":"1234","valid":true}})"));
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  ASSERT_EQ(r->events.size(), 1u);
  const PanelEvent& e = r->events[0];
  EXPECT_EQ(e.kind, EventKind::kCode);
  EXPECT_EQ(e.name, "CodeEntered");
  EXPECT_EQ(e.id, 1u);
  EXPECT_EQ(e.utc_time, 1437987102);
  EXPECT_EQ(e.up_time, 8);
  EXPECT_EQ(e.code, "1234");
  EXPECT_EQ(e.panel_valid, true);
  EXPECT_EQ(e.channel, 0u);
  EXPECT_TRUE(r->rejected.empty());
  EXPECT_EQ(r->unknown, 0u);
}

TEST(TwoNPull, EmptyEventsIsAnEmptyReply) {
  Result<PullReply> r = ParsePullReply(R"({"success":true,"result":{"events":[]}})");
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r->events.empty());
}

TEST(TwoNPull, CardByUidAndByCardAreNormalisedToUpperHex) {
  Result<PullReply> r = ParsePullReply(
      Pull(R"({"id":2,"event":"CardEntered","params":{"uid":"04a2b3c4d5e680","valid":false}},)"
           R"({"id":3,"event":"CardEntered","params":{"card":"abcdef12","valid":true}},)"
           R"({"id":4,"event":"CardEntered","params":{"uid":"11","card":"22"}})"));
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  ASSERT_EQ(r->events.size(), 3u);
  EXPECT_EQ(r->events[0].kind, EventKind::kCard);
  EXPECT_EQ(r->events[0].card_uid, "04A2B3C4D5E680");
  EXPECT_EQ(r->events[0].panel_valid, false);
  EXPECT_EQ(r->events[1].card_uid, "ABCDEF12");
  EXPECT_EQ(r->events[2].card_uid, "11");  // uid wins over card
}

TEST(TwoNPull, ReadsEveryEventKindOfTheFactsSheet) {
  Result<PullReply> r = ParsePullReply(Pull(
      R"({"id":10,"event":"KeyPressed","params":{"key":"%1"}},)"
      R"({"id":11,"event":"InputChanged","params":{"port":"input1","state":true}},)"
      R"({"id":12,"event":"SwitchStateChanged","params":{"switch":1,"state":false}},)"
      R"({"id":13,"event":"CallStateChanged","params":{"state":"ringing","direction":"outgoing"}},)"
      R"({"id":14,"event":"DoorStateChanged","params":{"state":"opened"}},)"
      R"({"id":15,"event":"UnauthorizedDoorOpen"},)"
      R"({"id":16,"event":"DoorOpenTooLong","params":{}},)"
      R"({"id":17,"event":"TamperSwitchActivated","params":{"state":1}},)"
      R"({"id":18,"event":"DeviceState","params":{"state":"startup"}},)"
      R"({"id":19,"event":"DeviceState","params":{"state":"shutdown"}})"));
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  ASSERT_EQ(r->events.size(), 10u);
  const auto& ev = r->events;
  EXPECT_EQ(ev[0].kind, EventKind::kKey);
  EXPECT_EQ(ev[0].key, "%1");
  EXPECT_EQ(ev[1].kind, EventKind::kInput);
  EXPECT_EQ(ev[1].port, "input1");
  EXPECT_EQ(ev[1].state, "true");
  EXPECT_EQ(ev[1].active, true);
  EXPECT_EQ(ev[2].kind, EventKind::kSwitchState);
  EXPECT_EQ(ev[2].port, "1");
  EXPECT_EQ(ev[2].active, false);
  EXPECT_EQ(ev[3].kind, EventKind::kCall);
  EXPECT_EQ(ev[3].call_state, "ringing");
  EXPECT_EQ(ev[3].call_direction, "outgoing");
  EXPECT_EQ(ev[4].kind, EventKind::kDoorState);
  EXPECT_EQ(ev[4].active, true);
  EXPECT_EQ(ev[5].kind, EventKind::kUnauthorizedOpen);
  EXPECT_EQ(ev[6].kind, EventKind::kOpenTooLong);
  EXPECT_EQ(ev[7].kind, EventKind::kTamper);
  EXPECT_EQ(ev[7].active, true);
  EXPECT_EQ(ev[8].kind, EventKind::kDeviceStartup);
  EXPECT_EQ(ev[9].kind, EventKind::kOther);
  EXPECT_EQ(ev[9].state, "shutdown");
  EXPECT_EQ(r->unknown, 1u);
}

TEST(TwoNPull, UnknownEventsAreKeptAsOtherAndCounted) {
  Result<PullReply> r =
      ParsePullReply(Pull(R"({"id":5,"event":"MotionDetected","params":{"state":"in"}},)"
                          R"({"id":6,"event":"AudioLoudnessDetected"},)"
                          R"({"id":7,"event":"CodeEntered","params":{"code":"9876"}})"));
  ASSERT_TRUE(r.ok());
  ASSERT_EQ(r->events.size(), 3u);
  EXPECT_EQ(r->events[0].kind, EventKind::kOther);
  EXPECT_EQ(r->events[0].name, "MotionDetected");
  EXPECT_EQ(r->events[1].kind, EventKind::kOther);
  EXPECT_EQ(r->events[2].kind, EventKind::kCode);
  EXPECT_EQ(r->unknown, 2u);
}

TEST(TwoNPull, MalformedEventsAreRejectedWithReasonsAndTheOthersKept) {
  Result<PullReply> r = ParsePullReply(
      Pull(R"(7,)"                                                              // not an object
           R"({"event":"CodeEntered","params":{"code":"1234"}},)"               // no id
           R"({"id":-3,"event":"CodeEntered","params":{"code":"1234"}},)"       // negative id
           R"({"id":21,"params":{}},)"                                          // no name
           R"({"id":22,"event":"CodeEntered","params":{"code":"1"}},)"          // too short
           R"({"id":23,"event":"CodeEntered","params":{"code":"123456789"}},)"  // too long
           R"({"id":24,"event":"CodeEntered","params":{"code":"12a4"}},)"       // not digits
           R"({"id":25,"event":"CodeEntered","params":{"code":1234}},)"         // a number
           R"({"id":26,"event":"CodeEntered"},)"                                // no params
           R"({"id":27,"event":"CardEntered","params":{"uid":"xyz"}},)"         // not hex
           R"({"id":28,"event":"CardEntered","params":{"uid":"0123456789ABCDEF0"}},)"  // 17 digits
           R"({"id":29,"event":"CardEntered","params":{"uid":""}},)"                   // empty
           R"({"id":30,"event":"CardEntered","params":{}},)"           // neither uid nor card
           R"({"id":31,"event":"CodeEntered","params":"code=1234"},)"  // params not an object
           R"({"id":32,"event":"CodeEntered","utcTime":"now","params":{"code":"1234"}},)"
           R"({"id":33,"event":"CodeEntered","params":{"code":"5678"}})"));  // the good one
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  ASSERT_EQ(r->events.size(), 1u);
  EXPECT_EQ(r->events[0].id, 33u);
  EXPECT_EQ(r->events[0].code, "5678");
  ASSERT_EQ(r->rejected.size(), 15u);
  EXPECT_EQ(r->rejected[0].reason, "event is not an object");
  EXPECT_EQ(r->rejected[1].reason, "event has no non-negative integer id");
  EXPECT_EQ(r->rejected[1].name, "CodeEntered");
  EXPECT_EQ(r->rejected[2].reason, "event has no non-negative integer id");
  EXPECT_EQ(r->rejected[3].reason, "event has no name");
  EXPECT_EQ(r->rejected[3].id, 21u);
  EXPECT_EQ(r->rejected[4].reason, "CodeEntered: code is not 2..8 digits long (1 characters)");
  EXPECT_EQ(r->rejected[5].reason, "CodeEntered: code is not 2..8 digits long (9 characters)");
  EXPECT_EQ(r->rejected[6].reason, "CodeEntered: code has a character that is not a digit");
  EXPECT_EQ(r->rejected[7].reason, "CodeEntered: code is not a string of digits");
  EXPECT_EQ(r->rejected[8].reason, "CodeEntered: no code");
  EXPECT_EQ(r->rejected[9].reason, "CardEntered: card id has a non-hex character");
  EXPECT_EQ(r->rejected[10].reason, "CardEntered: card id longer than 16 hex digits");
  EXPECT_EQ(r->rejected[11].reason, "CardEntered: card id is empty");
  EXPECT_EQ(r->rejected[12].reason, "CardEntered: no uid or card");
  EXPECT_EQ(r->rejected[13].reason, "params is not an object");
  EXPECT_EQ(r->rejected[14].reason, "utcTime is not an integer");
  // No reason quotes the digits of a code.
  for (const RejectedEvent& rej : r->rejected) {
    for (const char* digits : {"1234", "123456789", "12a4"}) {
      EXPECT_EQ(rej.reason.find(digits), std::string::npos) << rej.reason;
    }
  }
}

TEST(TwoNPull, At128EventsIsFineAndOverIsRefused) {
  std::string events;
  for (int i = 1; i <= 129; ++i) {
    if (i == 129) {
      Result<PullReply> ok = ParsePullReply(Pull(events));
      ASSERT_TRUE(ok.ok()) << ok.status().ToString();
      EXPECT_EQ(ok->events.size(), 128u);
      events += ",";
    } else if (i > 1) {
      events += ",";
    }
    events += R"({"id":)" + std::to_string(i) + R"(,"event":"KeyPressed","params":{"key":"1"}})";
  }
  Result<PullReply> over = ParsePullReply(Pull(events));
  EXPECT_EQ(over.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(over.status().message().find("129 events, over the limit of 128"), std::string::npos);
}

TEST(TwoNPull, RefusesRepliesWithoutAnEventsArray) {
  for (const char* bad :
       {R"({"success":true,"result":{}})", R"({"success":true,"result":{"events":{}}})",
        R"({"success":true,"result":{"events":"none"}})", R"({"success":true,"result":[]})",
        R"({"success":true})"}) {
    EXPECT_EQ(ParsePullReply(bad).status().code(), StatusCode::kInvalidArgument) << bad;
  }
}

TEST(TwoNPull, AnErrorEnvelopeForAnUnknownChannelIsFailedPrecondition) {
  TwoNError err;
  Result<PullReply> r = ParsePullReply(
      R"({"success":false,"error":{"code":12,"param":"id","description":"invalid parameter value"}})",
      &err);
  EXPECT_EQ(r.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_EQ(err.code, 12);
  EXPECT_EQ(err.param, "id");
}

TEST(TwoNPull, HostileValuesAreCutAndMadePrintable) {
  Result<PullReply> r = ParsePullReply(Pull(
      R"({"id":1,"event":")" + std::string(500, 'E') + R"("},)" +
      R"({"id":2,"event":"CallStateChanged","params":{"state":"ring\u0007ing","direction":[1]}},)" +
      R"({"id":18446744073709551615,"event":"KeyPressed","params":{"key":"0123456789"}})"));
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  ASSERT_EQ(r->events.size(), 3u);
  EXPECT_EQ(r->events[0].name.size(), kMaxNameLength + 3);
  EXPECT_EQ(r->events[1].call_state, "ring?ing");
  EXPECT_EQ(r->events[1].call_direction, "");  // not a scalar: ignored
  EXPECT_EQ(r->events[2].id, 18446744073709551615u);
  EXPECT_EQ(r->events[2].key, "01234567...");
}

TEST(TwoNSwitchCtrl, LockedSwitchIsErrorFourteen) {
  TwoNError err;
  Status st = ParseSwitchCtrlReply(
      R"({"success":false,"error":{"code":14,"param":"switch","description":"action failed"}})",
      &err);
  EXPECT_EQ(st.code(), StatusCode::kFailedPrecondition);
  EXPECT_EQ(err.code, kTwoNErrorActionFailed);
  EXPECT_TRUE(ParseSwitchCtrlReply(R"({"success":true})").ok());
}

TEST(TwoNTargets, AreTheFactsSheetPaths) {
  EXPECT_EQ(TwoNSystemInfoTarget(), "/api/system/info");
  EXPECT_EQ(TwoNSubscribeTarget(seconds(90)), "/api/log/subscribe?include=new&duration=90");
  EXPECT_EQ(TwoNPullTarget(2121013117, seconds(20)), "/api/log/pull?id=2121013117&timeout=20");
  EXPECT_EQ(TwoNUnsubscribeTarget(5), "/api/log/unsubscribe?id=5");
  EXPECT_EQ(TwoNSwitchTriggerTarget(1, std::nullopt), "/api/switch/ctrl?switch=1&action=trigger");
  EXPECT_EQ(TwoNSwitchTriggerTarget(2, seconds(7)),
            "/api/switch/ctrl?switch=2&action=trigger&timeout=7");
}

// --- credentials --------------------------------------------------------------------------------

TEST(IntercomCredentials, CodesAreTwoToEightDigits) {
  EXPECT_TRUE(CheckCode("12").ok());
  EXPECT_TRUE(CheckCode("12345678").ok());
  EXPECT_FALSE(CheckCode("1").ok());
  EXPECT_FALSE(CheckCode("123456789").ok());
  EXPECT_FALSE(CheckCode("12 4").ok());
  EXPECT_FALSE(CheckCode("").ok());
  EXPECT_EQ(CheckCode("9x9").message().find("9x9"), std::string::npos);
}

TEST(IntercomCredentials, CardUidsAreOneToSixteenHexDigits) {
  EXPECT_EQ(*NormalizeCardUid("a"), "A");
  EXPECT_EQ(*NormalizeCardUid("0123456789abcdef"), "0123456789ABCDEF");
  EXPECT_FALSE(NormalizeCardUid("").ok());
  EXPECT_FALSE(NormalizeCardUid("0123456789abcdef0").ok());
  EXPECT_FALSE(NormalizeCardUid("04:A2").ok());
  EXPECT_FALSE(NormalizeCardUid("g").ok());
}

TEST(IntercomCredentials, ConstantTimeEqualsComparesWholeStrings) {
  EXPECT_TRUE(ConstantTimeEquals("s3cret", "s3cret"));
  EXPECT_TRUE(ConstantTimeEquals("", ""));
  EXPECT_FALSE(ConstantTimeEquals("s3cret", "s3creT"));
  EXPECT_FALSE(ConstantTimeEquals("s3cret", "s3cret2"));
  EXPECT_FALSE(ConstantTimeEquals("s3cret2", "s3cret"));
  EXPECT_FALSE(ConstantTimeEquals("", "x"));
  EXPECT_FALSE(ConstantTimeEquals(std::string_view("a\0", 2), "a"));
}

TEST(PanelEventDescribe, NeverShowsCodeDigitsOrKeys) {
  PanelEvent e;
  e.kind = EventKind::kCode;
  e.name = "CodeEntered";
  e.id = 4;
  e.channel = 2;
  e.code = "4711";
  EXPECT_EQ(Describe(e), "CodeEntered #4 (channel 2) (code)");
  e.kind = EventKind::kKey;
  e.name = "KeyPressed";
  e.key = "7";
  EXPECT_EQ(Describe(e).find('7'), std::string::npos);
}

// --- Akuvox -------------------------------------------------------------------------------------

TEST(AkuvoxReply, RetcodeZeroIsOkAndNegativeIsAnError) {
  AkuvoxReply reply;
  EXPECT_TRUE(CheckAkuvoxReply(R"({"retcode":0,"message":"OK","data":{}})", &reply).ok());
  EXPECT_EQ(reply.message, "OK");
  Status st = CheckAkuvoxReply(R"({"retcode":-100,"message":"Api unsupported"})", &reply);
  EXPECT_EQ(st.code(), StatusCode::kFailedPrecondition);
  EXPECT_EQ(st.message(), "Akuvox error -100: Api unsupported");
  EXPECT_EQ(reply.retcode, -100);
  for (const char* bad :
       {"", "{", R"({"message":"OK"})", R"({"retcode":"0"})", "[0]", R"({"retcode":0.5})"}) {
    EXPECT_EQ(CheckAkuvoxReply(bad).code(), StatusCode::kInvalidArgument) << bad;
  }
}

TEST(AkuvoxRelay, TriggerBodyIsTheFactsSheetBody) {
  EXPECT_EQ(AkuvoxRelayTriggerBody(1, seconds(0)),
            R"({"target":"relay","action":"trig","data":{"num":1,"mode":0,"level":0,"delay":0}})");
  EXPECT_EQ(AkuvoxRelayTriggerBody(2, seconds(5)),
            R"({"target":"relay","action":"trig","data":{"num":2,"mode":0,"level":0,"delay":5}})");
}

TEST(AkuvoxRelay, LegacyTargetEncodesCredentials) {
  EXPECT_EQ(AkuvoxLegacyOpenDoorTarget("admin", "p&ss w=rd", 1),
            "/fcgi/do?action=OpenDoor&UserName=admin&Password=p%26ss%20w%3Drd&DoorNum=1");
}

TEST(ActionUrl, ParsesCodeRequest) {
  Result<ActionUrlRequest> r =
      ParseActionUrlTarget("/akuvox/lobby/S3cr-et_1/code?code=4711&mac=0C:11:05:AB:cd:EF");
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->panel_id, "lobby");
  EXPECT_EQ(r->secret, "S3cr-et_1");
  EXPECT_EQ(r->event, "code");
  Result<PanelEvent> e = ActionUrlEvent(*r);
  ASSERT_TRUE(e.ok()) << e.status().ToString();
  EXPECT_EQ(e->kind, EventKind::kCode);
  EXPECT_EQ(e->code, "4711");
  EXPECT_EQ(e->mac, "0C1105ABCDEF");
  EXPECT_EQ(e->name, "code");
}

TEST(ActionUrl, CardRelayAndTamper) {
  Result<PanelEvent> card =
      ActionUrlEvent(*ParseActionUrlTarget("/akuvox/p1/s/card?card_sn=00ab12cd&ip=10.0.0.7"));
  ASSERT_TRUE(card.ok()) << card.status().ToString();
  EXPECT_EQ(card->kind, EventKind::kCard);
  EXPECT_EQ(card->card_uid, "00AB12CD");
  Result<PanelEvent> relay =
      ActionUrlEvent(*ParseActionUrlTarget("/akuvox/p1/s/relay?relay1status=1"));
  ASSERT_TRUE(relay.ok());
  EXPECT_EQ(relay->kind, EventKind::kSwitchState);
  EXPECT_EQ(relay->port, "1");
  EXPECT_EQ(relay->active, true);
  Result<PanelEvent> closed =
      ActionUrlEvent(*ParseActionUrlTarget("/akuvox/p1/s/relay?relay1status=0"));
  EXPECT_EQ(closed->active, false);
  Result<PanelEvent> tamper = ActionUrlEvent(*ParseActionUrlTarget("/akuvox/p1/s/tamper"));
  ASSERT_TRUE(tamper.ok());
  EXPECT_EQ(tamper->kind, EventKind::kTamper);
}

TEST(ActionUrl, PathsOfAnotherShapeAreNotFound) {
  for (const char* t : {"/", "/akuvox", "/akuvox/", "/akuvox/p1", "/akuvox/p1/s",
                        "/akuvox/p1/s/code/x", "/akuvox//s/code", "/akuvox/p1//code",
                        "/akuvox/p1/s/", "/other/p1/s/code", "/AKUVOX/p1/s/code"}) {
    EXPECT_EQ(ParseActionUrlTarget(t).status().code(), StatusCode::kNotFound) << t;
  }
}

TEST(ActionUrl, MalformedRequestsAreRejectedWithReasons) {
  struct Case {
    std::string target;
    const char* reason;
  };
  for (const Case& c : {
           Case{"/akuvox/p 1/s/code", "panel id"},
           Case{"/akuvox/p%31/s/code", "panel id"},
           Case{"/akuvox/p1/s%2F/code", "secret"},
           Case{"/akuvox/p1/s/Code", "event"},
           Case{"/akuvox/p1/s/code?code=%4", "bad percent-encoding"},
           Case{"/akuvox/p1/s/code?code=%zz", "bad percent-encoding"},
           Case{"/akuvox/p1/s/code?code=1&code=2", "given twice"},
           Case{"/akuvox/p1/s/code?=1", "parameter name"},
           Case{"/akuvox/p1/s/code?co-de=1", "parameter name"},
           Case{"/akuvox/p1/s/code?code=%00", "control or non-ASCII"},
           Case{"/akuvox/p1/s/code?code=%C3%A9", "control or non-ASCII"},
           Case{"/akuvox/p1/s/code?code=" + std::string(129, '1'), "longer than 128"},
           Case{"/akuvox/p1/s/code?" + std::string(1100, 'a'), "longer than 1024 bytes"},
           Case{"/akuvox/p1/s/code?a=1&b=1&c=1&d=1&e=1&f=1&g=1&h=1&i=1&j=1&k=1&l=1&m=1&n=1&o=1&"
                "p=1&q=1",
                "more than 16 parameters"},
       }) {
    Result<ActionUrlRequest> r = ParseActionUrlTarget(c.target);
    EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument) << c.target;
    EXPECT_NE(r.status().message().find(c.reason), std::string::npos)
        << c.target << " -> " << r.status().message();
  }
}

TEST(ActionUrl, BadValuesAreRejectedAndUnknownEventsNotFound) {
  struct Case {
    const char* target;
    StatusCode code;
    const char* reason;
  };
  for (const Case& c : {
           Case{"/akuvox/p1/s/code", StatusCode::kInvalidArgument, "no code parameter"},
           Case{"/akuvox/p1/s/code?code=$code", StatusCode::kInvalidArgument, "not a digit"},
           Case{"/akuvox/p1/s/code?code=1", StatusCode::kInvalidArgument, "2..8 digits"},
           Case{"/akuvox/p1/s/card?card_sn=$card_sn", StatusCode::kInvalidArgument, "non-hex"},
           Case{"/akuvox/p1/s/card", StatusCode::kInvalidArgument, "no card_sn"},
           Case{"/akuvox/p1/s/relay?relay1status=2", StatusCode::kInvalidArgument, "0 or 1"},
           Case{"/akuvox/p1/s/tamper?mac=$mac", StatusCode::kInvalidArgument, "mac"},
           Case{"/akuvox/p1/s/tamper?mac=0C1105ABCDEF00", StatusCode::kInvalidArgument, "mac"},
           Case{"/akuvox/p1/s/doorbell", StatusCode::kNotFound, "unknown Action URL event"},
       }) {
    Result<ActionUrlRequest> req = ParseActionUrlTarget(c.target);
    ASSERT_TRUE(req.ok()) << c.target << ": " << req.status().ToString();
    Result<PanelEvent> e = ActionUrlEvent(*req);
    EXPECT_EQ(e.status().code(), c.code) << c.target;
    EXPECT_NE(e.status().message().find(c.reason), std::string::npos)
        << c.target << " -> " << e.status().message();
  }
}

}  // namespace
}  // namespace lintel::intercom
