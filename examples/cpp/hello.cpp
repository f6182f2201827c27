// A C++ program that talks to sysvmqd through sysvmq::Client: one Client is one
// connection (use one per thread); every call returns a Result holding the value or the
// errno the libc call would have set.
#include <sysvmq/client.hpp>

#include <iostream>

int main() {
  sysvmq::Client client;  // $SYSVMQ_SOCKET, else /run/sysvmq/sysvmq.sock
  auto id = client.msgget(0x5eed, IPC_CREAT | 0600);
  if (!id) {
    std::cerr << "msgget: " << id.error().message() << " (socket " << client.socket_path() << ")\n";
    return 1;
  }
  for (long type : {3, 1, 2}) {
    if (auto sent = client.msgsnd(*id, type, "message of type " + std::to_string(type)); !sent) {
      std::cerr << "msgsnd: " << sent.error().message() << "\n";
      return 1;
    }
  }
  // msgtyp -2: the lowest type <= 2 first, as the kernel does.
  for (int i = 0; i < 2; ++i) {
    auto m = client.msgrcv(*id, 100, -2);
    if (!m) return 1;
    std::cout << "received type " << m->mtype << ": " << m->text << "\n";
  }
  auto ds = client.stat(*id);
  if (!ds) return 1;
  std::cout << "left in the queue: " << ds->msg_qnum << "\n";
  return client.remove(*id) ? 0 : 1;
}
