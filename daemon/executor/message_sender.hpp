// Sends one planned buyer message (send_message, or reply in the buyer's
// conversation): the guards first, then the conversation (cached per buyer,
// else opened with Create Conversation; reopened when TikTok closed it),
// then 'sending' is committed before
// Send Message, so a crash mid-send is found at start-up instead of sending
// twice. A refusal that certainly sent nothing is retried (deferred); an
// answer that never came or could not be read, or a timeout behind TikTok's
// gateway, makes the outcome `unknown`, for the reconciler.
#pragma once

#include "daemon/context.hpp"
#include "tikapi/result.hpp"

#include <boost/asio/awaitable.hpp>

#include <optional>
#include <string>

namespace orderflow {
class secret;
}
namespace orderflow::tikapi {
class client;
}

namespace orderflow::daemon {

class guards;
class outcomes;
class rules_in_force;
class token_keeper;

class message_sender {
public:
    message_sender(context ctx, const rules_in_force& in_force, tikapi::client& api, token_keeper& tokens, outcomes& out, guards& g);

    boost::asio::awaitable<void> send(const storage::action_row& a);

    // After the request was written: whether TikTok may have sent the
    // message although the call failed (then it becomes unknown, never sent
    // again blindly).
    static bool may_have_acted(const tikapi::api_error& err);

private:
    bool waits_for_cs_quota(const storage::action_row& a);
    bool waits_for_quota_refusal(const storage::action_row& a, const tikapi::api_error& err, bool attempt_begun);
    void defer_unsent(const storage::action_row& a, const std::string& why, bool attempt_begun);
    std::string token_refused_why(const tikapi::api_error& err) const;
    static bool conversation_gone(const tikapi::api_error& err);
    boost::asio::awaitable<std::optional<std::string>> open_conversation(const storage::action_row& a, const std::string& buyer,
                                                                         const orderflow::secret*& token, bool attempt_begun);

    context ctx_;
    const rules_in_force& in_force_;
    tikapi::client& api_;
    token_keeper& tokens_;
    outcomes& out_;
    guards& guards_;
};

}  // namespace orderflow::daemon
