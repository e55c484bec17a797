package actions

import "github.com/llconform/llconform/internal/landlock"

// Shorthands for the rights the actions' tables use, spelled as in the suite's specs.
const (
	rRead     uint64 = landlock.AccessFSReadFile
	rWrite    uint64 = landlock.AccessFSWriteFile
	rDir      uint64 = landlock.AccessFSReadDir
	rRO              = rRead | rDir
	rRW              = rRO | rWrite
	rRefer    uint64 = landlock.AccessFSRefer
	rMakeReg  uint64 = landlock.AccessFSMakeReg
	rRmFile   uint64 = landlock.AccessFSRemoveFile
	rMakeDir  uint64 = landlock.AccessFSMakeDir
	rRmDir    uint64 = landlock.AccessFSRemoveDir
	rExec     uint64 = landlock.AccessFSExecute
	rMakeChar uint64 = landlock.AccessFSMakeChar
	rMakeFifo uint64 = landlock.AccessFSMakeFifo
)
