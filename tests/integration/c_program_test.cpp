// c_program_test.cpp: a program written in C, including only <sysvmq/sysvmq.h>, talks
// to the daemon (c_program.c; its exit status names the step that failed).
#include <gtest/gtest.h>
#include <spawn.h>
#include <sys/wait.h>

#include <string>

#include "tests/support/daemon_fixture.hpp"

extern char** environ;

namespace sysvmq::test {
namespace {

class CProgramTest : public DaemonTest {};

TEST_F(CProgramTest, CProgramRunsACycleAgainstTheDaemon) {
  std::string program = SYSVMQ_C_PROGRAM_PATH;
  char* argv[] = {program.data(), nullptr};
  pid_t pid = -1;
  // The child inherits SYSVMQ_SOCKET, set by DaemonTest.
  ASSERT_EQ(::posix_spawn(&pid, program.c_str(), nullptr, nullptr, argv, environ), 0);
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status)) << status;
  EXPECT_EQ(WEXITSTATUS(status), 0) << "c_program.c failed at step " << WEXITSTATUS(status);
}

}  // namespace
}  // namespace sysvmq::test
