#include "nabla/autograd.h"

namespace nabla {
namespace {
thread_local bool t_grad_enabled = true;
bool g_anomaly = false;
}  // namespace

bool is_grad_enabled() { return t_grad_enabled; }
void set_grad_enabled(bool on) { t_grad_enabled = on; }
void set_detect_anomaly(bool on) { g_anomaly = on; }
bool is_anomaly_enabled() { return g_anomaly; }

}  // namespace nabla
